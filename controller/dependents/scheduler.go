package dependents

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
)

// Scheduler runs dependents day for each project on the schedule in its
// .mainline.yaml (dependencies.schedule, read in dependencies.timezone),
// with gocron. Each project's run starts at an offset into Window after its
// scheduled minute, so projects sharing a schedule do not all start at
// once; the offset is derived from the project's name, so it stays put
// across restarts and re-registrations. Configurations are read again
// every Refresh, and a job whose schedule changed is registered again;
// each refresh also merges the open pull requests whose checks turned
// green (MergeOpen), in case their webhooks never came.
type Scheduler struct {
	Day *Day
	// Window is how far runs are spread after their scheduled minute
	// (default 30 minutes).
	Window time.Duration
	// Refresh is how often the projects and their schedules are read again
	// (default 15 minutes).
	Refresh time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger

	mu    sync.Mutex
	cron  gocron.Scheduler
	ctx   context.Context
	jobs  map[string]scheduled // by project name
	runMu sync.Mutex           // RunProject calls, one at a time: they share a machine
}

type scheduled struct {
	id       uuid.UUID
	schedule string
	timezone string
}

// ScheduledJob is a project's registered dependents day job.
type ScheduledJob struct {
	Project  string
	Schedule string // 5-field cron expression
	Timezone string
	Offset   time.Duration // after each scheduled time
	NextRun  time.Time     // next scheduled time, before the offset
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Start registers a job per project and starts the scheduler; jobs run
// until Stop or until ctx is done.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.cron != nil {
		s.mu.Unlock()
		return errors.New("dependents scheduler: already started")
	}
	cron, err := gocron.NewScheduler()
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("dependents scheduler: %w", err)
	}
	s.cron, s.ctx, s.jobs = cron, ctx, map[string]scheduled{}
	s.mu.Unlock()

	refresh := s.Refresh
	if refresh <= 0 {
		refresh = 15 * time.Minute
	}
	_, err = cron.NewJob(gocron.DurationJob(refresh), gocron.NewTask(func() {
		if err := s.Sync(ctx); err != nil {
			s.logger().Warn("dependents scheduler: read schedules", "err", err)
		}
		s.mergeOpen(ctx)
	}), gocron.WithName("dependents: refresh schedules"), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("dependents scheduler: %w", err)
	}
	syncErr := s.Sync(ctx)
	cron.Start()
	if syncErr != nil {
		s.logger().Warn("dependents scheduler: read schedules", "err", syncErr)
	}
	return nil
}

// Stop stops the scheduler, waiting for runs in progress to return.
func (s *Scheduler) Stop() error {
	s.mu.Lock()
	cron := s.cron
	s.cron = nil
	s.mu.Unlock()
	if cron == nil {
		return nil
	}
	if err := cron.Shutdown(); err != nil {
		return fmt.Errorf("dependents scheduler: %w", err)
	}
	return nil
}

// Sync reads every project's schedule and registers, re-registers or
// removes jobs to match. Projects whose configuration cannot be read keep
// the job they had.
func (s *Scheduler) Sync(ctx context.Context) error {
	ps, err := s.Day.Store.Projects(ctx)
	if err != nil {
		return fmt.Errorf("list projects: %w", err)
	}
	type want struct{ schedule, timezone string }
	wanted := map[string]want{}
	keep := map[string]bool{}
	var errs []error
	for _, p := range ps {
		r := s.Day.load(ctx, p)
		switch {
		case r.err != nil:
			keep[p.Name] = true
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, r.err))
		case r.cfg != nil && r.skip == "":
			wanted[p.Name] = want{r.cfg.Dependencies.Schedule, r.cfg.Dependencies.Timezone}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cron == nil {
		return errors.New("dependents scheduler: not started")
	}
	for name, j := range s.jobs {
		w, ok := wanted[name]
		if keep[name] || (ok && w.schedule == j.schedule && w.timezone == j.timezone) {
			continue
		}
		if err := s.cron.RemoveJob(j.id); err != nil && !errors.Is(err, gocron.ErrJobNotFound) {
			errs = append(errs, fmt.Errorf("%s: remove job: %w", name, err))
		}
		delete(s.jobs, name)
		s.logger().Info("dependents day unscheduled", "project", name)
	}
	for name, w := range wanted {
		if _, ok := s.jobs[name]; ok {
			continue
		}
		job, err := s.cron.NewJob(
			gocron.CronJob("CRON_TZ="+w.timezone+" "+w.schedule, false),
			gocron.NewTask(s.runner(name)),
			gocron.WithName(name),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
		)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: schedule %q in %s: %w", name, w.schedule, w.timezone, err))
			continue
		}
		s.jobs[name] = scheduled{id: job.ID(), schedule: w.schedule, timezone: w.timezone}
		s.logger().Info("dependents day scheduled", "project", name, "schedule", w.schedule, "timezone", w.timezone, "offset", s.offset(name))
	}
	return errors.Join(errs...)
}

// runner is a project's job: wait for its offset, then run.
func (s *Scheduler) runner(name string) func() {
	return func() {
		s.mu.Lock()
		ctx := s.ctx
		s.mu.Unlock()
		if err := s.Day.sleep(ctx, s.offset(name)); err != nil {
			return
		}
		s.runMu.Lock()
		defer s.runMu.Unlock()
		rep, err := s.Day.RunProject(ctx, name)
		if err != nil {
			s.logger().Warn("dependents day", "project", name, "err", err)
			return
		}
		s.logger().Info("dependents day ran", "project", name, "action", rep.Action, "upgrades", len(rep.Upgrades), "left_out", len(rep.LeftOut), "merged", rep.Merged)
	}
}

// mergeOpen merges open dependency pull requests whose checks turned
// green since: the fallback for check webhooks that never arrived. A run
// in progress checks its own pull request, so this waits for none.
func (s *Scheduler) mergeOpen(ctx context.Context) {
	if !s.runMu.TryLock() {
		return
	}
	defer s.runMu.Unlock()
	if n, err := s.Day.MergeOpen(ctx); err != nil {
		s.logger().Warn("dependents scheduler: merge green pull requests", "err", err)
	} else if n > 0 {
		s.logger().Info("dependents scheduler merged green pull requests", "merged", n)
	}
}

// offset is where in the window a project's runs start: a hash of its
// name, so the spread is even and stable.
func (s *Scheduler) offset(name string) time.Duration {
	window := s.Window
	if window <= 0 {
		window = 30 * time.Minute
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(window))
}

// Jobs lists the registered project jobs, by project name.
func (s *Scheduler) Jobs() []ScheduledJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cron == nil {
		return nil
	}
	byID := map[uuid.UUID]gocron.Job{}
	for _, j := range s.cron.Jobs() {
		byID[j.ID()] = j
	}
	var out []ScheduledJob
	for name, j := range s.jobs {
		sj := ScheduledJob{Project: name, Schedule: j.schedule, Timezone: j.timezone, Offset: s.offset(name)}
		if job, ok := byID[j.id]; ok {
			sj.NextRun, _ = job.NextRun()
		}
		out = append(out, sj)
	}
	slices.SortFunc(out, func(a, b ScheduledJob) int {
		if a.Project < b.Project {
			return -1
		}
		if a.Project > b.Project {
			return 1
		}
		return 0
	})
	return out
}
