package dependents

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/mainline-cd/mainline/deploy/config"
)

// Ecosystems an upgrade belongs to.
const (
	GoModule    = "go"
	DockerImage = "docker"
)

// KindDigest is the kind of an image upgrade whose tag stays and whose
// pinned digest moves (the tag was rebuilt upstream).
const KindDigest = "digest"

// Upgrade is one dependency moving to a newer version.
type Upgrade struct {
	Ecosystem string // GoModule or DockerImage
	File      string // "go.mod", or the Dockerfile's path
	Name      string // module path, or image repository as written
	// NewName is the module path after a major upgrade ("…/v2"); import
	// paths are rewritten from Name to NewName. Equal to Name otherwise.
	NewName    string
	From, To   string // versions (Go) or tags (Docker)
	FromDigest string // pinned image digest, when the FROM line had one
	ToDigest   string
	Kind       string // config.UpdatePatch, UpdateMinor, UpdateMajor or KindDigest
}

// String is "example.com/lib v1.0.0 → v1.1.0".
func (u Upgrade) String() string {
	name, to := u.Name, u.To
	if u.NewName != "" && u.NewName != u.Name {
		to = u.NewName + " " + u.To
	}
	if u.Kind == KindDigest {
		return fmt.Sprintf("%s:%s %s → %s", name, u.From, shortDigest(u.FromDigest), shortDigest(u.ToDigest))
	}
	return fmt.Sprintf("%s %s → %s", name, u.From, to)
}

// LeftOut is an upgrade that is not in the pull request, and why.
type LeftOut struct {
	Upgrade        // as far as it is known: To is empty when no version was found
	Reason  string // one line
	Log     string // the tail of the failing command's output, if any
}

// Policy is what a repository allows: which kinds of update, which
// dependencies never, and how old a release must be.
type Policy struct {
	Updates       []string // subset of patch, minor, major
	Ignore        []string // module paths or image names; path prefix globs
	MinReleaseAge time.Duration
	Now           time.Time // for MinReleaseAge
}

// PolicyFor reads a repository's dependencies: configuration.
func PolicyFor(d config.Dependencies, now time.Time) Policy {
	return Policy{Updates: d.Updates, Ignore: d.Ignore, MinReleaseAge: time.Duration(d.MinReleaseAge), Now: now}
}

func (p Policy) allows(kind string) bool {
	if kind == KindDigest {
		return slices.Contains(p.Updates, config.UpdatePatch)
	}
	return slices.Contains(p.Updates, kind)
}

// ignores reports whether name matches an ignore pattern: a path.Match
// glob matching name or one of its leading path elements, as GOPRIVATE
// patterns do ("github.com/aws/*" ignores every AWS SDK module).
func (p Policy) ignores(name string) bool {
	for _, pat := range p.Ignore {
		if module.MatchPrefixPatterns(pat, name) {
			return true
		}
	}
	return false
}

// Kind says how much a version changes from from to to: "major" when the
// major number differs, "minor" when the minor does, "patch" otherwise.
func Kind(from, to string) string {
	switch {
	case semver.Major(from) != semver.Major(to):
		return config.UpdateMajor
	case semver.MajorMinor(from) != semver.MajorMinor(to):
		return config.UpdateMinor
	}
	return config.UpdatePatch
}

// Candidates returns the versions among versions that current may be
// upgraded to under the allowed kinds, newest first. Pre-releases and
// pseudo-versions are never proposed; +incompatible versions are proposed
// only to a module already at a +incompatible version, and the other way
// round (a module with a go.mod never goes back to +incompatible).
func Candidates(current string, versions []string, allowed []string) []string {
	if !semver.IsValid(current) {
		return nil
	}
	incompatible := semver.Build(current) == "+incompatible"
	var out []string
	for _, v := range versions {
		if !semver.IsValid(v) || semver.Prerelease(v) != "" {
			continue
		}
		if (semver.Build(v) == "+incompatible") != incompatible {
			continue
		}
		if semver.Compare(v, current) <= 0 {
			continue
		}
		if !slices.Contains(allowed, Kind(current, v)) {
			continue
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b string) int { return semver.Compare(b, a) })
	return slices.Compact(out)
}

// ChooseVersion returns the newest version current may be upgraded to, or
// "" when there is none.
func ChooseVersion(current string, versions []string, allowed []string) string {
	c := Candidates(current, versions, allowed)
	if len(c) == 0 {
		return ""
	}
	return c[0]
}

// nextMajorPath returns the module path of major version n of the module
// whose path prefix and major suffix are prefix and pathMajor (from
// module.SplitPathVersion): "…/vN", or ".vN" for gopkg.in.
func nextMajorPath(prefix, pathMajor string, n int) string {
	if strings.HasPrefix(pathMajor, ".v") || strings.HasPrefix(prefix, "gopkg.in/") {
		return fmt.Sprintf("%s.v%d", prefix, n)
	}
	return fmt.Sprintf("%s/v%d", prefix, n)
}

func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}
