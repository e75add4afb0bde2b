// Package config reads and validates .mainline.yaml, the per-repository file
// that tells Mainline what to build, how to roll it out and how to upgrade its
// dependencies.
//
// The file comes from a repository, so it is untrusted input: Parse bounds
// its size and nesting, refuses YAML aliases, tags and paths that leave the
// repository, and reports every problem it finds with the file, line, column
// and field path, so a user can fix them all in one go. A Config returned by
// Parse has every default filled in; callers never apply defaults themselves.
//
// The controller imports this package to read the file at a project's head
// commit, and `mainline config validate` imports it to check a file locally.
// Ordering builds by depends_on belongs to package deploy; Parse only checks
// that depends_on names real builds and has no cycle.
package config

import (
	"fmt"
	"strings"
	"time"
)

// Limits on untrusted input. The token limit is there because the YAML
// parser's time grows faster than linearly with the number of keys in one
// mapping; a real .mainline.yaml holds a few hundred tokens.
const (
	MaxFileSize = 256 << 10 // bytes
	MaxDepth    = 32        // nested mappings and lists
	MaxTokens   = 10000     // YAML tokens (scalars, indicators, brackets)
	MaxErrors   = 50        // errors reported before "too many errors"
)

// Defaults filled in by Parse for fields the file leaves out.
const (
	DefaultInstances      = 1
	DefaultPort           = 8080
	DefaultHealthPath     = "/healthz"
	DefaultHealthTimeout  = Duration(2 * time.Second)
	DefaultHealthInterval = Duration(time.Second)
	DefaultHealthPasses   = 2
	DefaultMaxSurge       = 1
	DefaultMaxUnavailable = 0
	DefaultBuildTimeout   = Duration(10 * time.Minute)
	DefaultContext        = "."
	// DefaultSchedule runs dependents day on weekday mornings, when people
	// are around to watch the upgrades deploy.
	DefaultSchedule = "0 9 * * 1-5"
	DefaultTimezone = "UTC"
)

// Update kinds allowed in Dependencies.Updates, by how much of a version
// changes.
const (
	UpdatePatch = "patch"
	UpdateMinor = "minor"
	UpdateMajor = "major"
)

// Config is a parsed .mainline.yaml.
type Config struct {
	// Branch is the branch whose merges deploy. Empty means the
	// repository's default branch.
	Branch string

	// Builds are the images built from each version tag, in file order.
	// A repository with no builds (a library) is tagged but not deployed.
	Builds []Build

	// Verify is the path of the verification suite, relative to the
	// repository root. Empty means the project has no suite.
	Verify string

	// Dependencies configures dependents day for this repository.
	Dependencies Dependencies
}

// Build is one image built and rolled out for every version.
type Build struct {
	// Name identifies the build; it becomes part of image and container
	// names, so it is a DNS label: lower-case letters, digits and '-'.
	Name string

	// Dockerfile is the Dockerfile's path relative to the repository root
	// (cleaned, never leaving the repository). Empty when Image is set.
	Dockerfile string

	// Context is the build context directory relative to the repository
	// root; "." (the root) unless the file says otherwise. Empty when
	// Image is set.
	Context string

	// Build is a command run in a clean checkout before the image build.
	Build BuildStep

	// Image is set for external builds: another system (a CI job) builds
	// and pushes this repository, tagged with the version, and Mainline
	// waits for the tag to appear. It holds no tag or digest. Mutually
	// exclusive with Dockerfile.
	Image string

	// Instances is how many instances run; 1 unless the file says
	// otherwise. 0 is allowed and means "scaled to zero".
	Instances int

	// Port is the port the service listens on inside its container; 8080
	// unless the file says otherwise.
	Port int

	// Health is how an instance is found healthy before it takes traffic.
	Health Health

	// Rollout bounds how far a rolling update may go above and below the
	// desired instance count.
	Rollout Rollout

	// DependsOn names builds that must be at their desired state before
	// this one rolls.
	DependsOn []string

	// Env is set in every instance's environment. Nil when the file sets
	// none.
	Env map[string]string
}

// BuildStep is a command run in the checkout before `docker build`, for
// images that copy in binaries built outside Docker.
type BuildStep struct {
	// Command is run by a shell in the checkout root; empty means none.
	Command string
	// Timeout bounds Command; DefaultBuildTimeout when Command is set.
	Timeout Duration
}

// Health is the HTTP health check of an instance.
type Health struct {
	// Path is requested with GET; a 2xx answer is a pass. "/healthz" by
	// default.
	Path string
	// Timeout bounds each request; 2s by default.
	Timeout Duration
	// Interval is the time between checks; 1s by default.
	Interval Duration
	// Threshold is how many passes in a row make an instance healthy; 2
	// by default, so one lucky answer during start-up is not enough.
	Threshold int
}

// Rollout bounds a rolling update, as in Kubernetes: at most MaxSurge
// instances above the desired count and at most MaxUnavailable healthy
// instances below it. They are never both 0, or no step could be taken.
type Rollout struct {
	MaxSurge       int // default 1
	MaxUnavailable int // default 0
}

// Dependencies configures dependents day for one repository.
type Dependencies struct {
	// Schedule is when to look for upgrades, as a 5-field cron expression
	// (minute hour day-of-month month day-of-week); DefaultSchedule when
	// omitted.
	Schedule string
	// Timezone is the IANA time zone Schedule is read in; "UTC" when
	// omitted.
	Timezone string
	// Automerge merges the upgrade pull request once its checks are green.
	Automerge bool
	// Ignore lists dependencies never upgraded: module paths or image
	// names, with path.Match patterns ("github.com/aws/*").
	Ignore []string
	// Updates is which kinds of upgrade are proposed: a subset of
	// "patch", "minor" and "major"; patch and minor by default.
	Updates []string
	// MinReleaseAge is how old a release must be before it is proposed;
	// 0 (the default) proposes releases at once.
	MinReleaseAge Duration
	// Group proposes related upgrades (modules of the same repository or
	// path prefix, such as every github.com/aws/aws-sdk-go-v2 module)
	// together, so they are tested and left out of the pull request as
	// one. Every upgrade of a run is in the one pull request per
	// repository either way.
	Group bool
}

// Duration is a length of time written in .mainline.yaml as "2s", "500ms",
// "1h30m" or a whole number of days, "7d".
type Duration time.Duration

// String formats d as time.Duration does ("2s").
func (d Duration) String() string { return time.Duration(d).String() }

// Error is one problem in a configuration file.
type Error struct {
	File         string
	Line, Column int    // 1-based; 0 when the problem is the whole file
	Field        string // path of the field, as in "builds[0].instances"; may be empty
	Msg          string
}

// Error formats e as "file:line:column: field: message".
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem Parse found in a file, in the order they appear
// in it.
type Errors []Error

// Error puts each problem on its own line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
