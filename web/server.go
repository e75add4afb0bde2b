package web

import (
	"context"
	"crypto/rand"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
)

// Store is what the dashboard reads and the actions write: a subset of
// store.Store.
type Store interface {
	Projects(ctx context.Context) ([]store.Project, error)
	ProjectByName(ctx context.Context, name string) (store.Project, error)
	UpdateProject(ctx context.Context, p store.Project) error
	Tags(ctx context.Context, projectID int64) ([]store.Tag, error)
	Build(ctx context.Context, projectID int64, name, version string) (store.Build, error)
	Builds(ctx context.Context, projectID int64, limit int) ([]store.Build, error)
	PutBuild(ctx context.Context, b store.Build) error
	DesiredStates(ctx context.Context, projectID int64) ([]store.Desired, error)
	Last(ctx context.Context, projectID int64, build string) (store.Last, error)
	AddEvent(ctx context.Context, e store.Event) (store.Event, error)
	Events(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	Rejections(ctx context.Context, projectID int64) ([]store.Rejection, error)
	VerifyRuns(ctx context.Context, projectID int64, limit int) ([]store.VerifyRun, error)
	DependencyPRs(ctx context.Context, projectID int64) ([]store.DependencyPR, error)
	TokenByHash(ctx context.Context, hash []byte) (store.Token, error)
}

var _ Store = (store.Store)(nil)

// Controller is what the dashboard asks the reconcile loop: what the last
// reconcile of a project found, and to look at a project now.
type Controller interface {
	Status(projectID int64) (controller.ProjectStatus, bool)
	Wake(projectID int64)
}

var _ Controller = (*controller.Controller)(nil)

// Clock is the source of time for "set 3 min ago" and for session expiry.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Server serves the dashboard, the live update stream and the JSON API.
// Set the fields, then use it as an http.Handler; the fields must not
// change afterwards.
type Server struct {
	Store Store
	// Controller answers what the last reconcile found; nil shows what the
	// store alone says (a replica that is not the leader knows no more).
	Controller Controller
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Clock is the source of time; nil is the wall clock.
	Clock Clock
	// SessionKey signs session cookies and CSRF tokens. Replicas behind
	// one load balancer need the same key. Empty: a random key, so
	// sessions end when the process does.
	SessionKey []byte
	// SessionTTL is how long a sign-in lasts (default 12 hours).
	SessionTTL time.Duration
	// PublicRead lets anyone read pages and the read-only API; actions
	// always need a signed-in user or an API token.
	PublicRead bool
	// SecureCookies marks cookies Secure: set it when the dashboard is
	// served over HTTPS (behind a proxy the request itself may be plain).
	SecureCookies bool
	// PollInterval is how often the live stream looks for changes
	// (default 500 ms). One poller serves every subscriber.
	PollInterval time.Duration
	// GitHub, when set, offers "Sign in with GitHub" to the members of
	// the organisations and teams it allows (oauth.go). A configuration
	// that fails GitHubAuth.Validate is not served; check it at start-up.
	GitHub *GitHubAuth

	initOnce sync.Once
	mux      *http.ServeMux
	tmpl     map[string]*template.Template
	key      []byte
	hub      *hub
	views    viewCache   // the overview's recent reads, see overviewViews
	github   *GitHubAuth // GitHub when it validates, else nil
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed openapi.json
var openAPI []byte

func (s *Server) init() {
	s.initOnce.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		if s.Clock == nil {
			s.Clock = wallClock{}
		}
		if s.SessionTTL <= 0 {
			s.SessionTTL = 12 * time.Hour
		}
		if s.PollInterval <= 0 {
			s.PollInterval = 500 * time.Millisecond
		}
		s.key = s.SessionKey
		if len(s.key) == 0 {
			s.key = make([]byte, 32)
			rand.Read(s.key)
		}
		if s.GitHub != nil {
			if err := s.GitHub.Validate(); err != nil {
				s.Logger.Error("GitHub sign-in disabled", "err", err)
			} else {
				s.github = s.GitHub
			}
		}
		s.tmpl = parseTemplates()
		s.hub = newHub(s.fingerprint, s.PollInterval, s.Logger)
		s.mux = s.routes()
	})
}

// ServeHTTP serves the dashboard and the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", s.page(s.overviewPage))
	mux.HandleFunc("GET /delivery", s.page(s.deliveryPage))
	mux.HandleFunc("GET /projects/", s.page(s.projectRoute))
	mux.HandleFunc("POST /projects/", s.actionForm)
	mux.HandleFunc("GET /signin", s.signinPage)
	mux.HandleFunc("POST /signin", s.signin)
	mux.HandleFunc("POST /signout", s.signout)
	if s.github != nil {
		mux.HandleFunc("GET /auth/github/login", s.githubLogin)
		mux.HandleFunc("GET /auth/github/callback", s.githubCallback)
	}
	mux.HandleFunc("GET /events/stream", s.stream)

	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	mux.HandleFunc("GET /api/v1/projects", s.api(s.apiProjects))
	mux.HandleFunc("GET /api/v1/projects/", s.api(s.apiProjectGet))
	mux.HandleFunc("POST /api/v1/projects/", s.apiAction)
	mux.HandleFunc("GET /api/v1/events", s.api(s.apiEvents))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API endpoint")
	})
	return mux
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	v := "public, max-age=" + itoa(int64(d/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		h.ServeHTTP(w, r)
	})
}

// splitProjectPath splits the path after a prefix such as "/projects/"
// into the project name, which may contain slashes, and what follows
// "/-/", e.g. "octo-org/api/-/builds/api/0.3.15" → ("octo-org/api",
// "builds/api/0.3.15").
func splitProjectPath(path, prefix string) (name, rest string) {
	p := strings.TrimPrefix(path, prefix)
	name, rest, _ = strings.Cut(p, "/-/")
	return strings.TrimSuffix(name, "/"), strings.Trim(rest, "/")
}
