// Package store persists everything the controller knows, behind one
// interface with two implementations: SQLite (modernc.org/sqlite, the
// embedded single-replica default) and PostgreSQL (pgx, for several
// replicas). Open picks one from a URL.
//
// The schema is versioned; migrations are applied by Open, and a database
// whose schema is newer than this binary knows is refused rather than
// silently used. The package imports the standard library and the database
// drivers only; the controller, web and webhooks packages import it.
//
// Conformance: storetest.Run exercises every method against any Store, and is
// run for both backends.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers branch on, with errors.Is.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a compare-and-set lost (someone else wrote first), or a
	// unique key is taken.
	ErrConflict = errors.New("store: conflict")
	// ErrSchemaTooNew: the database was migrated by a newer Mainline.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrFenced: CheckLease found that the lease has moved on to another
	// term or has expired, so whoever asked is no longer the leader and
	// must not write.
	ErrFenced = errors.New("store: fenced: the lease is no longer held at this term")
)

// Project is one watched repository.
type Project struct {
	ID        int64
	Name      string // unique, e.g. "octo-org/api" or "demo"
	SCM       string // "github" or "git"
	Location  string // "owner/repo" for github, a path or URL for git
	Branch    string // empty: the repository's default branch
	Paused    bool   // paused projects keep their desired state
	Pinned    string // version pinned by a user; empty when not pinned
	CreatedAt time.Time
	// WebhookSecret is the project's own webhook secret, valid for
	// deliveries about its repository besides the global ones; empty:
	// none. WebhookSecretPrevious stays valid too while a rotation is
	// under way. Strings rather than a slice keep Project comparable.
	// Never log them.
	WebhookSecret         string
	WebhookSecretPrevious string
}

// WebhookSecrets returns the project's non-empty webhook secrets, the
// current one first.
func (p Project) WebhookSecrets() []string {
	var out []string
	for _, s := range []string{p.WebhookSecret, p.WebhookSecretPrevious} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Delivery is one received webhook, stored before it is acknowledged.
type Delivery struct {
	ID          string // X-GitHub-Delivery, unique
	Event       string // X-GitHub-Event
	Repo        string // repository full name from the payload, if any
	Payload     []byte
	ReceivedAt  time.Time
	ProcessedAt time.Time // zero until processed
}

// Head is the last seen commit at the tip of a project's branch.
type Head struct {
	ProjectID int64
	Branch    string
	SHA       string
	SeenAt    time.Time
}

// Tag is a version tag the controller knows about.
type Tag struct {
	ProjectID int64
	Name      string // e.g. "0.3.15" or "v0.3.15"
	SHA       string
	Message   string // the commit's subject, for the dashboard
	CreatedAt time.Time
}

// BuildStatus is where a build is.
type BuildStatus string

// Build statuses.
const (
	BuildPending   BuildStatus = "pending"
	BuildRunning   BuildStatus = "running"
	BuildSucceeded BuildStatus = "succeeded"
	BuildFailed    BuildStatus = "failed"
)

// Build is one image built (or awaited) for one builds: entry at one version.
// (ProjectID, Name, Version) is unique.
type Build struct {
	ProjectID  int64
	Name       string // the builds: entry
	Version    string
	Status     BuildStatus
	Image      string // full reference
	Digest     string // pushed manifest digest, when succeeded
	Error      string // one-line reason, when failed
	Log        string // the tail of the build log
	StartedAt  time.Time
	FinishedAt time.Time
}

// Desired is the desired state of one build of a project. Revision grows by
// one on every write and guards compare-and-set updates.
type Desired struct {
	ProjectID int64
	Build     string
	Version   string
	Instances int
	SetAt     time.Time
	SetBy     string
	Revision  int64
}

// Last is the last observed state of one build: healthy instances per
// version.
type Last struct {
	ProjectID  int64
	Build      string
	Versions   map[string]int
	ObservedAt time.Time
}

// Event is one entry of a project's append-only history. ProjectID 0 is for
// events about no known project (e.g. a webhook for an unknown repository).
type Event struct {
	ID        int64
	ProjectID int64
	Kind      string // e.g. "tagged", "build_failed", "desired_changed"
	Message   string
	At        time.Time
}

// EventQuery selects events, newest first. Zero fields do not filter.
type EventQuery struct {
	ProjectID int64  // 0: all projects
	Kind      string // "": all kinds
	BeforeID  int64  // paging cursor: only events with ID < BeforeID
	Limit     int    // 0 means 50
}

// Rejection marks a version that automatic deploys must skip.
type Rejection struct {
	ProjectID int64
	Version   string
	Reason    string
	At        time.Time
}

// VerifyRun is one run of a project's verification suite.
type VerifyRun struct {
	ID         int64
	ProjectID  int64
	Version    string
	Trigger    string // "rollout", "schedule", "user:alice"
	Status     string // "running", "passed", "failed", "error"
	Summary    string
	Report     []byte // JSON of every step, request and response
	StartedAt  time.Time
	FinishedAt time.Time
}

// DependencyPR is a dependency-upgrade pull request Mainline opened.
// (ProjectID, Number) is unique.
type DependencyPR struct {
	ProjectID int64
	Number    int
	Branch    string
	Title     string
	State     string // "open", "merged", "closed"
	Checks    string // "pending", "success", "failure"
	URL       string
	UpdatedAt time.Time
}

// Token is an API token; only its hash is kept.
type Token struct {
	ID        int64
	Name      string // unique
	Hash      []byte // SHA-256 of the secret
	CreatedAt time.Time
}

// Lease is a named lock with an expiry, held by one holder at a time: the
// controller's leader election. Term grows by one every time the lease
// changes hands (including being taken again after a release), so a term
// names one uninterrupted holding and can fence writes (see CheckLease).
type Lease struct {
	Name      string
	Holder    string // "" when released
	Term      int64
	ExpiresAt time.Time // by the database's clock on PostgreSQL
}

// Store is everything the controller persists. Implementations are safe for
// concurrent use. Methods that return one row return ErrNotFound when there
// is none.
type Store interface {
	// CreateProject inserts p (ID and CreatedAt are set by the store) or
	// returns ErrConflict if the name is taken.
	CreateProject(ctx context.Context, p Project) (Project, error)
	Project(ctx context.Context, id int64) (Project, error)
	ProjectByName(ctx context.Context, name string) (Project, error)
	// ProjectsByLocation returns the projects watching a repository.
	ProjectsByLocation(ctx context.Context, scm, location string) ([]Project, error)
	Projects(ctx context.Context) ([]Project, error)
	// UpdateProject writes Branch, Paused, Pinned and the webhook secrets
	// of an existing project.
	UpdateProject(ctx context.Context, p Project) error

	// AddDelivery stores d unless a delivery with its ID exists; it reports
	// whether d was new. A duplicate is not an error.
	AddDelivery(ctx context.Context, d Delivery) (bool, error)
	// MarkDeliveryProcessed sets ProcessedAt.
	MarkDeliveryProcessed(ctx context.Context, id string, at time.Time) error
	// PendingDeliveries lists unprocessed deliveries, oldest first.
	PendingDeliveries(ctx context.Context, limit int) ([]Delivery, error)

	// SetHead records the head of a branch (upsert).
	SetHead(ctx context.Context, h Head) error
	Head(ctx context.Context, projectID int64, branch string) (Head, error)

	// AddTag records a tag; a tag of the same name is ErrConflict.
	AddTag(ctx context.Context, t Tag) error
	// Tags lists a project's tags, newest (by CreatedAt, then name) first.
	Tags(ctx context.Context, projectID int64) ([]Tag, error)

	// PutBuild inserts or replaces the build (ProjectID, Name, Version).
	PutBuild(ctx context.Context, b Build) error
	Build(ctx context.Context, projectID int64, name, version string) (Build, error)
	// Builds lists a project's builds, newest first, at most limit.
	Builds(ctx context.Context, projectID int64, limit int) ([]Build, error)

	// SetDesired writes d if the stored revision equals d.Revision (0 for
	// "no desired state yet") and returns it with the new revision;
	// otherwise ErrConflict and nothing changes.
	SetDesired(ctx context.Context, d Desired) (Desired, error)
	Desired(ctx context.Context, projectID int64, build string) (Desired, error)
	// DesiredStates lists the desired state of every build of a project.
	DesiredStates(ctx context.Context, projectID int64) ([]Desired, error)

	// SetLast records the observed state of a build (upsert).
	SetLast(ctx context.Context, l Last) error
	Last(ctx context.Context, projectID int64, build string) (Last, error)

	// AddEvent appends e (ID is set by the store) and returns it.
	AddEvent(ctx context.Context, e Event) (Event, error)
	Events(ctx context.Context, q EventQuery) ([]Event, error)

	// Reject marks a version as rejected (upsert); Unreject removes it.
	Reject(ctx context.Context, r Rejection) error
	Unreject(ctx context.Context, projectID int64, version string) error
	Rejections(ctx context.Context, projectID int64) ([]Rejection, error)

	// AddVerifyRun inserts r and returns it with its ID; UpdateVerifyRun
	// writes Status, Summary, Report and FinishedAt of an existing run.
	AddVerifyRun(ctx context.Context, r VerifyRun) (VerifyRun, error)
	UpdateVerifyRun(ctx context.Context, r VerifyRun) error
	// VerifyRuns lists a project's runs, newest first, at most limit.
	VerifyRuns(ctx context.Context, projectID int64, limit int) ([]VerifyRun, error)

	// PutDependencyPR inserts or replaces (ProjectID, Number).
	PutDependencyPR(ctx context.Context, pr DependencyPR) error
	DependencyPRs(ctx context.Context, projectID int64) ([]DependencyPR, error)

	// AddToken stores a token by name (ErrConflict if taken).
	AddToken(ctx context.Context, t Token) (Token, error)
	// TokenByHash finds the token whose hash is hash.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)

	// AcquireLease takes the lease name for holder (non-empty) until ttl
	// from now when it is free, released, expired or already holder's (a
	// renewal, which keeps the term); Term grows only when the holder
	// changes. It returns ErrConflict while another holder's lease is
	// unexpired. It is one atomic statement: of concurrent acquirers at
	// most one wins. On PostgreSQL "now" is the database's clock, so
	// replicas with skewed clocks still agree on expiry.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease frees the lease if holder holds it, so another can take
	// it at once; otherwise it does nothing.
	ReleaseLease(ctx context.Context, name, holder string) error
	// Lease returns the lease's current record (ErrNotFound if it was
	// never taken).
	Lease(ctx context.Context, name string) (Lease, error)
	// CheckLease returns nil if the lease is held, unexpired, at term, and
	// ErrFenced otherwise. Called on the Store of an InTx, it also keeps
	// the lease from changing hands until the transaction ends, so a
	// write after it in the same transaction commits only while term
	// still leads: that is how writes are fenced.
	CheckLease(ctx context.Context, name string, term int64) error

	// InTx runs fn with a Store whose writes commit together when fn
	// returns nil and are all rolled back when it returns an error.
	InTx(ctx context.Context, fn func(tx Store) error) error

	// Ping reports whether the database answers, for /readyz.
	Ping(ctx context.Context) error
	Close() error
}
