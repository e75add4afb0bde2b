package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers"
)

// Providers are the outside systems the stages talk to. SCM is opened per
// project; the rest are shared.
type Providers struct {
	// SCM opens the repository a project watches.
	SCM func(ctx context.Context, p store.Project) (providers.SCM, error)
	// Builder builds and pushes images; nil disables the build stage's
	// own builds (only external `image:` builds are then awaited).
	Builder providers.Builder
	// Registry answers whether an image exists, for idempotent builds and
	// external builds.
	Registry providers.Registry
	// Cluster runs instances.
	Cluster providers.Cluster
	// Notifier is told about deploys, rollbacks and failed verifications;
	// nil tells no one.
	Notifier providers.Notifier
}

// Controller reconciles every project towards its desired state. Set the
// exported fields, then call Run; Wake and WakeRepository may be called
// from any goroutine, before or during Run.
type Controller struct {
	Store     store.Store
	Providers Providers
	// ImageRegistry is where images are pushed: "host[:port][/prefix]".
	// Images are named ImageRegistry/project/build:version.
	ImageRegistry string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Clock is the source of time; nil is the wall clock.
	Clock Clock
	// Workers bounds how many projects reconcile at once (default 4). A
	// project is never reconciled by two workers at once.
	Workers int
	// Resync is how often every project is reconciled without a wake-up
	// (default 1 minute).
	Resync time.Duration
	// ShutdownGrace is how long a stage in flight may go on after Run's
	// context ends before its own context is cancelled (default 10 s).
	ShutdownGrace time.Duration
	// HTTPClient runs verification suites; nil is a client with sane
	// timeouts.
	HTTPClient *http.Client
	// Environment is the environment name used in deployments and
	// notifications (default "production").
	Environment string
	// Getenv resolves ${env:NAME} in verification suites; nil resolves
	// nothing. Values it returns are secrets and are masked in reports.
	Getenv func(string) (string, bool)
	// DashboardURL, when set, is linked from notifications and statuses.
	DashboardURL string

	// Fence, when set, must pass before every desired-state write (in the
	// write's transaction, so a deposed leader cannot commit it) and before
	// every cluster Start and Stop. Leader.Fence is one.
	Fence func(ctx context.Context, st store.Store) error

	// ScheduleClock drives scheduled verification runs; nil is the wall
	// clock. Tests pass a fake one to fire schedules without waiting.
	ScheduleClock clockwork.Clock

	// Timeouts bound each provider call; the zero value is sane defaults.
	// The controller puts every provider in Providers behind them (and
	// Metrics) when it starts.
	Timeouts Timeouts
	// Metrics is told about stages, provider calls, deploys, rollbacks
	// and verifications; nil records nothing.
	Metrics Metrics

	initOnce  sync.Once
	initErr   error
	q         *queue
	schedules *schedules

	mu       sync.Mutex
	failures map[int64]int           // consecutive errors per project, for back-off
	status   map[int64]ProjectStatus // what each project is doing, for the dashboard
}

// ProjectStatus is what the last reconcile of a project found.
type ProjectStatus struct {
	Stage  string    // the stage that stopped the run, or "" when all were ready
	Result string    // "ready", "progress", "waiting", "error", "stalled"
	Reason string    // why, in words
	At     time.Time // when
}

func (c *Controller) init() {
	c.initOnce.Do(func() {
		if c.Clock == nil {
			c.Clock = realClock{}
		}
		if c.Logger == nil {
			c.Logger = slog.New(slog.DiscardHandler)
		}
		if c.Workers <= 0 {
			c.Workers = 4
		}
		if c.Resync <= 0 {
			c.Resync = time.Minute
		}
		if c.ShutdownGrace <= 0 {
			c.ShutdownGrace = 10 * time.Second
		}
		if c.HTTPClient == nil {
			c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
		}
		if c.Environment == "" {
			c.Environment = "production"
		}
		c.Timeouts = c.Timeouts.withDefaults()
		if c.Metrics == nil {
			c.Metrics = noMetrics{}
		}
		c.wrapProviders()
		c.q = newQueue(c.Clock)
		c.schedules, c.initErr = newSchedules(c, c.ScheduleClock)
		c.failures = map[int64]int{}
		c.status = map[int64]ProjectStatus{}
	})
}

// Wake queues a project for reconciliation now.
func (c *Controller) Wake(projectID int64) {
	c.init()
	c.queue().add(projectID)
}

// queue is the work queue of the current Run (or the one the next Run
// replaces, before any).
func (c *Controller) queue() *queue {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q
}

// sched is the verification schedules of the current Run.
func (c *Controller) sched() *schedules {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.schedules
}

// WakeRepository wakes every project that watches the repository fullName
// ("owner/repo" for GitHub; the project name for local repositories) and
// says how many it woke. The webhook receiver calls it.
func (c *Controller) WakeRepository(ctx context.Context, fullName string) (int, error) {
	c.init()
	ps, err := c.Store.ProjectsByLocation(ctx, "github", fullName)
	if err != nil {
		return 0, fmt.Errorf("wake %s: %w", fullName, err)
	}
	if p, err := c.Store.ProjectByName(ctx, fullName); err == nil {
		dup := false
		for _, q := range ps {
			dup = dup || q.ID == p.ID
		}
		if !dup {
			ps = append(ps, p)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("wake %s: %w", fullName, err)
	}
	q := c.queue()
	for _, p := range ps {
		q.add(p.ID)
	}
	return len(ps), nil
}

// QueueDepth is the number of projects waiting for a worker.
func (c *Controller) QueueDepth() int {
	c.init()
	return c.queue().len()
}

// Status returns what the last reconcile of a project found.
func (c *Controller) Status(projectID int64) (ProjectStatus, bool) {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.status[projectID]
	return s, ok
}

// Run reconciles projects until ctx is done: every project at start (a
// restart loses nothing), each again at every resync, and any woken one at
// once. When ctx ends, it stops handing out work and waits for stages in
// flight, which may go on for ShutdownGrace before they are cancelled.
//
// Run may be called again after it returns (a replica that lost its
// lease and leads again later): each run has its own queue and schedules,
// and begins by reconciling every project, so nothing between runs is
// missed.
func (c *Controller) Run(ctx context.Context) error {
	c.init()
	if c.initErr != nil {
		return c.initErr
	}
	q := newQueue(c.Clock)
	sched, err := newSchedules(c, c.ScheduleClock)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.q, c.schedules = q, sched
	c.mu.Unlock()
	sched.s.Start()
	defer func() {
		if err := sched.s.Shutdown(); err != nil {
			c.Logger.Warn("stop schedules", "err", err)
		}
	}()
	// Stages run under a context that outlives ctx by the grace period, so
	// a stage in flight at shutdown can finish (or reach a safe point).
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	if err := c.resyncAll(ctx); err != nil {
		q.close()
		return err
	}
	var wg sync.WaitGroup
	for range c.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work(workCtx, q)
		}()
	}
	ticker := time.NewTicker(c.Resync)
	defer ticker.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
			if err := c.resyncAll(ctx); err != nil && ctx.Err() == nil {
				c.Logger.Error("resync", "err", err)
			}
		}
	}
	q.close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	stop := c.Clock.AfterFunc(c.ShutdownGrace, cancelWork)
	defer stop()
	<-done
	return nil
}

func (c *Controller) resyncAll(ctx context.Context) error {
	ps, err := c.Store.Projects(ctx)
	if err != nil {
		return fmt.Errorf("list projects: %w", err)
	}
	q := c.queue()
	for _, p := range ps {
		q.add(p.ID)
	}
	return nil
}

func (c *Controller) work(ctx context.Context, q *queue) {
	for {
		id, ok := q.get()
		if !ok {
			return
		}
		out, err := c.Reconcile(ctx, id)
		q.done(id)
		if after, again := c.next(id, out, err); again {
			q.addAfter(id, after)
		}
	}
}

// Back-off for errors: base × 2^(n-1), capped, with ±20% jitter so many
// failing projects do not retry in step.
const (
	backoffBase = time.Second
	backoffMax  = 5 * time.Minute
)

// next decides when to run a project again after a reconcile.
func (c *Controller) next(id int64, out Outcome, err error) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil && !IsStalled(err):
		c.failures[id]++
		d := backoffBase << min(c.failures[id]-1, 20)
		d = min(d, backoffMax)
		d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
		return d, true
	case err != nil:
		delete(c.failures, id)
		return 0, false // stalled: wait for a change or the resync
	}
	delete(c.failures, id)
	switch out.Result {
	case Progress:
		return max(out.After, 0), true
	case Waiting:
		return out.After, out.After > 0
	}
	return 0, false
}

// Reconcile runs the stages of one project once, in order, stopping at the
// first that is not ready, and records what it found. It is what a worker
// runs; tests call it directly.
func (c *Controller) Reconcile(ctx context.Context, projectID int64) (Outcome, error) {
	c.init()
	if c.initErr != nil {
		return Outcome{}, c.initErr
	}
	p, err := c.Store.Project(ctx, projectID)
	if errors.Is(err, store.ErrNotFound) {
		return ready(), nil // removed meanwhile
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("load project %d: %w", projectID, err)
	}
	r := &run{c: c, project: p, log: c.Logger.With("project", p.Name)}
	base := r.log
	for _, s := range r.stages() {
		r.log = base.With("stage", s.name)
		start := c.Clock.Now()
		out, err := s.fn(ctx)
		c.Metrics.StageFinished(s.name, resultOf(out, err), c.Clock.Now().Sub(start))
		if err != nil {
			r.log.Warn("stage failed", "version", r.version, "err", err)
			c.setStatus(ctx, p, s.name, err, out)
			return out, fmt.Errorf("%s %s: %w", p.Name, s.name, err)
		}
		if out.Result != Ready {
			c.setStatus(ctx, p, s.name, nil, out)
			return out, nil
		}
	}
	c.setStatus(ctx, p, "", nil, ready())
	return ready(), nil
}

// setStatus records the outcome of a run and writes an event when the
// reason a project is not progressing changes, so the timeline says why
// it waits without repeating itself every resync.
func (c *Controller) setStatus(ctx context.Context, p store.Project, stage string, err error, out Outcome) {
	s := ProjectStatus{Stage: stage, Result: out.Result.String(), Reason: out.Reason, At: c.Clock.Now().UTC()}
	switch {
	case IsStalled(err):
		s.Result, s.Reason = "stalled", err.Error()
	case err != nil:
		s.Result, s.Reason = "error", err.Error()
	}
	c.mu.Lock()
	prev, had := c.status[p.ID]
	c.status[p.ID] = s
	c.mu.Unlock()
	if s.Result == "ready" || s.Result == "progress" {
		return
	}
	if had && prev.Result == s.Result && prev.Reason == s.Reason {
		return
	}
	kind := s.Result
	msg := fmt.Sprintf("%s: %s", stage, s.Reason)
	if _, err := c.Store.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: kind, Message: msg, At: s.At}); err != nil {
		c.Logger.Error("record event", "project", p.Name, "err", err)
	}
}

// event appends an event to a project's timeline and logs it.
func (c *Controller) event(ctx context.Context, p store.Project, kind, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	c.Logger.Info(msg, "project", p.Name, "event", kind)
	c.Metrics.Event(kind)
	if _, err := c.Store.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: kind, Message: msg, At: c.Clock.Now().UTC()}); err != nil {
		return fmt.Errorf("record %s event: %w", kind, err)
	}
	return nil
}

// imageName is where the image of one build at one version is pushed.
func (c *Controller) imageName(project, build, version string) string {
	repo := strings.ToLower(project + "/" + build)
	if c.ImageRegistry != "" {
		repo = strings.TrimSuffix(c.ImageRegistry, "/") + "/" + repo
	}
	return repo + ":" + version
}
