package providers

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors that callers branch on. Implementations wrap them, so test with
// errors.Is.
var (
	// ErrNotFound: the branch, file, tag, image or pull request does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a create found the name already taken (e.g. a tag).
	ErrExists = errors.New("already exists")
	// ErrUnavailable: the outside system is down, overloaded, throttling
	// or did not answer in time. Nothing is wrong with the request; the
	// same call may work later, so callers retry instead of recording a
	// failure.
	ErrUnavailable = errors.New("temporarily unavailable")
)

// Tag is a git tag and the commit it points at (peeled: for an annotated tag,
// the commit, not the tag object).
type Tag struct {
	Name string
	SHA  string
}

// SCM is what the sync and tag stages need from one repository. Each value
// is bound to a single repository; the controller makes one per project.
type SCM interface {
	// DefaultBranch returns the repository's default branch name.
	DefaultBranch(ctx context.Context) (string, error)
	// HeadSHA returns the commit at the tip of branch.
	HeadSHA(ctx context.Context, branch string) (string, error)
	// Tags lists every tag with the commit it points at.
	Tags(ctx context.Context) ([]Tag, error)
	// CreateTag creates an annotated tag name on sha. If name exists it
	// returns an error wrapping ErrExists and changes nothing.
	CreateTag(ctx context.Context, name, sha, message string) error
	// ReadFile returns a file's content at ref, or ErrNotFound.
	ReadFile(ctx context.Context, ref, path string) ([]byte, error)
}

// Source is an SCM that can hand out the whole tree at a ref, as a tar
// stream, for image builds.
type Source interface {
	// Archive writes the tree at ref to w as an uncompressed tar.
	Archive(ctx context.Context, ref string, w io.Writer) error
}

// CommitState is the state of a commit status or a combined status.
type CommitState string

// Commit states, as GitHub names them.
const (
	StatePending CommitState = "pending"
	StateSuccess CommitState = "success"
	StateFailure CommitState = "failure"
	StateError   CommitState = "error"
)

// CommitStatus is one status on a commit (GitHub's "statuses" API).
type CommitStatus struct {
	State       CommitState
	Context     string // e.g. "mainline/build"
	Description string
	TargetURL   string
}

// StatusSetter sets commit statuses; an optional ability of an SCM.
type StatusSetter interface {
	SetCommitStatus(ctx context.Context, sha string, s CommitStatus) error
}

// Deployments records rollouts on the SCM (GitHub's Deployments API); an
// optional ability of an SCM.
type Deployments interface {
	// CreateDeployment records a deployment of ref to environment.
	CreateDeployment(ctx context.Context, ref, environment, description string) (int64, error)
	// SetDeploymentStatus moves deployment id to state ("in_progress",
	// "success", "failure", …) with the environment's URL.
	SetDeploymentStatus(ctx context.Context, id int64, state, environmentURL, description string) error
}

// FileChange is one file to write in a commit.
type FileChange struct {
	Path    string
	Content []byte
}

// PullRequest is a pull (merge) request as the dependents job sees it.
type PullRequest struct {
	Number  int
	Title   string
	Body    string
	Head    string // branch the changes are on
	Base    string // branch they merge into
	HeadSHA string
	State   string // "open" or "closed"
	Merged  bool
	URL     string
}

// PullRequests opens, updates, merges and closes pull requests; an optional
// ability of an SCM, needed by dependents day.
type PullRequests interface {
	// CommitFiles makes one commit of files on top of base and points branch
	// at it, creating or force-updating branch. It returns the new commit.
	CommitFiles(ctx context.Context, branch, base, message string, files []FileChange) (string, error)
	// OpenPullRequest opens pr (Title, Body, Head, Base) and returns it with
	// its number and URL.
	OpenPullRequest(ctx context.Context, pr PullRequest) (PullRequest, error)
	// UpdatePullRequest sets the title and body of an open pull request.
	UpdatePullRequest(ctx context.Context, number int, title, body string) error
	// PullRequestsFrom lists the open pull requests whose head is branch.
	PullRequestsFrom(ctx context.Context, branch string) ([]PullRequest, error)
	// MergePullRequest squash-merges an open pull request whose head is
	// still sha and returns the merge commit.
	MergePullRequest(ctx context.Context, number int, sha, message string) (string, error)
	// ClosePullRequest closes it unmerged, leaving comment.
	ClosePullRequest(ctx context.Context, number int, comment string) error
	// CombinedStatus returns the combined state of all statuses and check
	// runs on ref.
	CombinedStatus(ctx context.Context, ref string) (CommitState, error)
}

// BuildSpec is one image to build from a tag.
type BuildSpec struct {
	Project    string            // project name, for labels and logs
	Build      string            // the builds: entry's name
	Version    string            // the tag being built
	Revision   string            // the commit SHA of the tag
	SourceURL  string            // where the source lives, for the OCI label
	Image      string            // full reference to push, registry/project/build:version
	Dockerfile string            // path inside the context
	Context    string            // directory of the tree used as build context
	Command    string            // optional shell command run in the checkout first
	Timeout    time.Duration     // for Command and the image build together
	Labels     map[string]string // extra image labels
}

// Builder builds an image from a source tree and pushes it.
type Builder interface {
	// Build checks out src at spec.Revision, runs spec.Command, builds the
	// image, pushes it and returns the pushed manifest digest. Build output
	// is written to log as it happens.
	Build(ctx context.Context, src Source, spec BuildSpec, log io.Writer) (digest string, err error)
}

// Registry answers what a registry holds.
type Registry interface {
	// Digest returns the manifest digest of image, or ErrNotFound.
	Digest(ctx context.Context, image string) (string, error)
}

// InstanceState is where an instance is in its life.
type InstanceState string

// Instance states. Only healthy instances take traffic.
const (
	InstanceStarting  InstanceState = "starting"  // running, not yet passed its health checks
	InstanceHealthy   InstanceState = "healthy"   // passing health checks, in the load balancer
	InstanceUnhealthy InstanceState = "unhealthy" // failed its health checks; to be replaced
	InstanceStopping  InstanceState = "stopping"  // drained and on its way out
)

// Instance is one running copy of a build at a version.
type Instance struct {
	ID        string
	Project   string
	Build     string
	Version   string
	State     InstanceState
	StartedAt time.Time
}

// InstanceSpec describes an instance to start.
type InstanceSpec struct {
	Project       string
	Build         string
	Version       string
	Image         string // reference or digest to run
	Port          int    // port the service listens on inside the instance
	HealthPath    string
	HealthTimeout time.Duration
	// HealthInterval is the time between health checks and
	// HealthyThreshold the passes in a row before the instance takes
	// traffic; zero means the cluster's default.
	HealthInterval   time.Duration
	HealthyThreshold int
	Env              map[string]string
}

// Cluster runs instances. Instances outlive the controller: Instances reads
// them back from the cluster itself, so a restarted controller knows what
// runs without remembering it.
type Cluster interface {
	// Instances lists the instances of one build, with their health.
	Instances(ctx context.Context, project, build string) ([]Instance, error)
	// Start starts one instance of spec; it takes traffic only once healthy.
	Start(ctx context.Context, spec InstanceSpec) (Instance, error)
	// Stop takes the instance out of traffic, lets in-flight requests
	// finish, then stops and removes it. Stopping a gone instance is not an
	// error.
	Stop(ctx context.Context, id string) error
	// Endpoint returns the URL where the build's service answers.
	Endpoint(ctx context.Context, project, build string) (string, error)
}

// RolloutStatus is where a rollout run by the cluster itself stands.
type RolloutStatus struct {
	// Done: only the target version runs, at the wanted count, healthy.
	Done bool
	// Failed: the cluster gave up on the target version (e.g. ECS's
	// deployment circuit breaker); it will not become healthy by waiting.
	Failed bool
	// Reason says what the rollout waits for, or why it failed.
	Reason string
	// Versions counts running instances per version, as last observed.
	Versions map[string]int
}

// Roller is a Cluster that rolls a build from version to version by itself
// (Amazon ECS deployments) rather than by the controller's Start and Stop
// steps; an optional ability of a Cluster, preferred when present.
//
// Rollout is level-triggered like the controller: the first call for a
// target starts the rollout, and every later call with the same arguments
// observes it again without starting it over, until the status is Done or
// Failed. A status is never judged from one observation.
type Roller interface {
	Rollout(ctx context.Context, spec InstanceSpec, instances, maxSurge, maxUnavailable int) (RolloutStatus, error)
}

// Notification is one thing worth telling people about.
type Notification struct {
	Project string
	Kind    string // "deploy_started", "deploy_finished", "rolled_back", "verify_failed", "dependency_pr_red", …
	Version string
	Message string
	URL     string // link to the dashboard
	At      time.Time
	// SHA is the commit Version was built from, when known; commit
	// statuses and deployments need it.
	SHA string
	// EnvironmentURL is where the deployed service answers, when known;
	// deployment statuses link to it.
	EnvironmentURL string
}

// Notifier tells people (Slack, a webhook, commit statuses) what happened.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// ModuleIndex answers which versions of a Go module exist (the module proxy
// protocol).
type ModuleIndex interface {
	// Versions lists the known versions of module path.
	Versions(ctx context.Context, path string) ([]string, error)
	// Published returns when version of path was published.
	Published(ctx context.Context, path, version string) (time.Time, error)
}
