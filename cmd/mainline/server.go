package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/github"
	"github.com/mainline-cd/mainline/providers/gitlocal"
	"github.com/mainline-cd/mainline/providers/notify"
	"github.com/mainline-cd/mainline/web"
	"github.com/mainline-cd/mainline/webhooks"
)

// server is a wired Mainline: store, controller, webhook receiver and HTTP
// routes. newServer builds it; run starts the controller; close releases
// what newServer opened.
type server struct {
	settings   settings
	logger     *slog.Logger
	store      store.Store
	controller *controller.Controller
	leader     *controller.Leader // runs the controller while this replica holds the lease (lease.go)
	webhooks   *webhooks.Handler
	web        *web.Server
	handler    http.Handler
	closers    []func() error
	registry   *prometheus.Registry // served at /metrics (limits.go)
	limits     *limits              // per-client rate limits; nil: none (limits.go)

	depsMu sync.Mutex
	deps   *dependents.Scheduler // while this replica leads (dependents.go)

	scmMu sync.Mutex
	scms  map[string]providers.SCM // by SCM and location
}

// newServer wires everything the settings describe. p supplies the
// builder, registry and cluster; the SCM is opened per project here.
func newServer(ctx context.Context, s settings, logger *slog.Logger, p controller.Providers) (*server, error) {
	githubAuth, err := s.githubAuth() // GitHub sign-in for the dashboard, or nil (oauth.go)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return nil, err
	}
	srv := &server{settings: s, logger: logger, store: st, scms: map[string]providers.SCM{}}
	srv.closers = append(srv.closers, st.Close)

	p.SCM = srv.scm
	if p.Notifier == nil {
		p.Notifier = srv.notifier()
	}
	srv.controller = &controller.Controller{
		Store:         st,
		Providers:     p,
		ImageRegistry: s.Registry,
		Logger:        logger,
		Resync:        s.Resync,
		DashboardURL:  s.PublicURL,
	}
	secrets := make([][]byte, 0, len(s.WebhookSecrets))
	for _, sec := range s.WebhookSecrets {
		secrets = append(secrets, []byte(sec))
	}
	srv.leader = srv.newLeader()
	srv.webhooks = &webhooks.Handler{Secrets: secrets, Store: st, Waker: leaderWaker{srv}, Logger: logger,
		ProjectSecrets: projectSecrets(st)}
	srv.web = &web.Server{Store: st, Controller: srv.controller, Logger: logger, SessionKey: []byte(s.SessionKey),
		PublicRead: s.PublicRead, SecureCookies: strings.HasPrefix(s.PublicURL, "https://"), GitHub: githubAuth}
	srv.closers = append(srv.closers, func() error { srv.web.Close(); return nil })
	if err := srv.instrument(); err != nil {
		return nil, err
	}
	srv.handler = srv.routes()
	return srv, nil
}

// scm returns the repository a project watches, opened once and kept: a
// GitHub client keeps its ETag cache and rate-limit state between runs.
func (srv *server) scm(_ context.Context, p store.Project) (providers.SCM, error) {
	key := p.SCM + " " + p.Location
	srv.scmMu.Lock()
	defer srv.scmMu.Unlock()
	if r, ok := srv.scms[key]; ok {
		return r, nil
	}
	var (
		r   providers.SCM
		err error
	)
	switch p.SCM {
	case "git":
		r, err = gitlocal.Open(p.Location, gitlocal.WithLogger(srv.logger), gitlocal.OnRefUpdate(srv.wakeOnRefUpdate(p.Name)))
	case "github":
		owner, name, _ := strings.Cut(p.Location, "/")
		if srv.settings.GitHubToken == "" {
			return nil, fmt.Errorf("project %s: MAINLINE_GITHUB_TOKEN is not set", p.Name)
		}
		r, err = github.NewFromToken(srv.settings.GitHubToken, srv.settings.GitHubURL, owner, name, github.WithLogger(srv.logger))
	default:
		err = fmt.Errorf("project %s: unknown SCM %q", p.Name, p.SCM)
	}
	if err != nil {
		return nil, err
	}
	srv.scms[key] = r
	return r, nil
}

// notifier tells GitHub (commit statuses and deployments, for every
// project whose SCM has them) and, when configured, Slack and a plain
// webhook about deploys. Each receiver retries on its own in the
// background, so none holds up a deploy.
func (srv *server) notifier() providers.Notifier {
	s := srv.settings
	retrying := func(n providers.Notifier) providers.Notifier {
		r := &notify.Retrying{Next: n, Logger: srv.logger}
		srv.closers = append(srv.closers, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return r.Close(ctx)
		})
		return r
	}
	gh := &notify.GitHub{Open: func(ctx context.Context, project string) (providers.SCM, error) {
		p, err := srv.store.ProjectByName(ctx, project)
		if err != nil {
			return nil, err
		}
		return srv.scm(ctx, p)
	}}
	m := &notify.Multi{Default: []providers.Notifier{retrying(gh)}}
	if s.SlackWebhook != "" {
		m.Default = append(m.Default, notify.Filter{Kinds: s.SlackKinds, Projects: s.SlackProjects,
			Next: retrying(&notify.Slack{WebhookURL: s.SlackWebhook, DashboardURL: s.PublicURL})})
	}
	if s.NotifyURL != "" {
		m.Default = append(m.Default, notify.Filter{Kinds: s.NotifyKinds, Projects: s.NotifyProjects,
			Next: retrying(&notify.Webhook{URL: s.NotifyURL, Secret: s.NotifySecret})})
	}
	return m
}

// wakeOnRefUpdate returns a callback that wakes a local project when
// Mainline itself moves one of its refs (a merged pull request), since
// git update-ref runs no hooks.
func (srv *server) wakeOnRefUpdate(name string) func(context.Context, gitlocal.RefUpdate) {
	return func(ctx context.Context, _ gitlocal.RefUpdate) {
		if _, err := srv.controller.WakeRepository(ctx, name); err != nil {
			srv.logger.Warn("wake after ref update", "project", name, "err", err)
		}
	}
}

func (srv *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := srv.store.Ping(r.Context()); err != nil {
			http.Error(w, "store unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok\nrole %s\nqueue_depth %d\n", srv.role(), srv.controller.QueueDepth())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(srv.registry, promhttp.HandlerOpts{}))
	mux.Handle("POST /webhooks/github", srv.limits.webhook(srv.webhooks))
	mux.Handle("/api/", srv.limits.apiRoutes(srv.web)) // rate-limited /api/v1
	mux.Handle("/", srv.web)                           // dashboard
	return limitBodies(mux)
}

// run runs the controller, whenever this replica holds the controller
// lease, until ctx is done (see lease.go).
func (srv *server) run(ctx context.Context) error {
	return srv.lead(ctx)
}

func (srv *server) close() error {
	var errs []error
	for i := len(srv.closers) - 1; i >= 0; i-- {
		errs = append(errs, srv.closers[i]())
	}
	return errors.Join(errs...)
}
