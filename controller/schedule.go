package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy/verify"
)

// schedules runs each project's verification suite on the suite's own
// cron schedule, between rollouts, so a release that breaks after it was
// promoted (an expired certificate, a bad downstream) is still caught.
// Failures alert; a suite's failure budget of them in a row rolls back,
// through the desired state, at the project's next reconcile.
//
// There is one gocron job per project, (re)registered by the verify stage
// whenever the suite's schedule or the verified version changes, and
// removed when the project no longer has a schedule. Only the controller
// that runs the reconcile loop (the leader) runs schedules.
type schedules struct {
	c *Controller
	s gocron.Scheduler

	mu        sync.Mutex
	jobs      map[int64]scheduledJob
	budgets   map[int64]*budgetFor
	rollbacks map[int64]rollbackRequest
}

type scheduledJob struct {
	id                          uuid.UUID
	spec, build, suite, version string
}

// budgetFor is the failure budget of the scheduled runs of one version.
type budgetFor struct {
	version string
	budget  verify.Budget
}

// rollbackRequest asks the project's next reconcile to roll back version.
type rollbackRequest struct {
	version, reason string
}

func newSchedules(c *Controller, clock clockwork.Clock) (*schedules, error) {
	opts := []gocron.SchedulerOption{}
	if clock != nil {
		opts = append(opts, gocron.WithClock(clock))
	}
	s, err := gocron.NewScheduler(opts...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return &schedules{c: c, s: s, jobs: map[int64]scheduledJob{},
		budgets: map[int64]*budgetFor{}, rollbacks: map[int64]rollbackRequest{}}, nil
}

// ensure makes the project's scheduled verification match spec (removing
// it when spec is empty). It is idempotent and cheap when nothing changed.
func (s *schedules) ensure(projectID int64, spec, build, suite, version string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := scheduledJob{spec: spec, build: build, suite: suite, version: version}
	cur, ok := s.jobs[projectID]
	if ok {
		if cur.spec == spec && cur.build == build && cur.suite == suite && cur.version == version {
			return nil
		}
		if err := s.s.RemoveJob(cur.id); err != nil && !errors.Is(err, gocron.ErrJobNotFound) {
			return fmt.Errorf("unschedule verification: %w", err)
		}
		delete(s.jobs, projectID)
	}
	if spec == "" {
		return nil
	}
	j, err := s.s.NewJob(gocron.CronJob(spec, false),
		gocron.NewTask(func() { s.run(context.Background(), projectID, build, suite) }),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithName(fmt.Sprintf("verify project %d", projectID)))
	if err != nil {
		return fmt.Errorf("schedule verification %q: %w", spec, err)
	}
	want.id = j.ID()
	s.jobs[projectID] = want
	return nil
}

// run is one scheduled verification of whatever version the project
// desires now.
func (s *schedules) run(ctx context.Context, projectID int64, build, suitePath string) {
	c := s.c
	if err := s.runOnce(ctx, projectID, build, suitePath); err != nil {
		c.Logger.Warn("scheduled verification", "project_id", projectID, "err", err)
	}
}

func (s *schedules) runOnce(ctx context.Context, projectID int64, build, suitePath string) error {
	c := s.c
	p, err := c.Store.Project(ctx, projectID)
	if err != nil {
		return err
	}
	d, err := c.Store.Desired(ctx, p.ID, build)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (d.Version == "" || d.Instances == 0)) {
		return nil
	}
	if err != nil {
		return err
	}
	scm, err := c.Providers.SCM(ctx, p)
	if err != nil {
		return err
	}
	data, err := scm.ReadFile(ctx, d.Version, suitePath)
	if err != nil {
		return fmt.Errorf("read %s at %s: %w", suitePath, d.Version, err)
	}
	suite, err := verify.Parse(suitePath, data)
	if err != nil {
		return err
	}
	r := &run{c: c, project: p, scm: scm, log: c.Logger.With("project", p.Name)}
	report, vr, err := r.runSuite(ctx, suite, d.Version, build, TriggerSchedule)
	if err != nil {
		return err
	}
	s.mu.Lock()
	b := s.budgets[p.ID]
	if b == nil || b.version != d.Version {
		b = &budgetFor{version: d.Version, budget: verify.NewBudget(suite)}
		s.budgets[p.ID] = b
	}
	act := b.budget.Record(report.Outcome)
	failures := b.budget.Failures
	s.mu.Unlock()
	if report.Outcome == verify.Passed {
		return nil
	}
	r.notify(ctx, "verify_failed", d.Version, fmt.Sprintf("%s %s failed scheduled verification: %s", p.Name, d.Version, vr.Summary))
	if !act {
		return c.event(ctx, p, "verify_failed", "scheduled verification of %s %s (%d/%d failed runs in a row): %s",
			d.Version, report.Outcome, failures, suite.FailureBudget, vr.Summary)
	}
	if suite.OnFailure == verify.Alert {
		return c.event(ctx, p, "verify_failed", "scheduled verification of %s failed %d times in a row (on_failure: alert, kept): %s",
			d.Version, suite.FailureBudget, vr.Summary)
	}
	s.mu.Lock()
	s.rollbacks[p.ID] = rollbackRequest{version: d.Version,
		reason: fmt.Sprintf("failed scheduled verification %d times in a row: %s", suite.FailureBudget, vr.Summary)}
	s.mu.Unlock()
	c.Wake(p.ID)
	return nil
}

// takeRollback returns and forgets a rollback a scheduled run asked for.
func (s *schedules) takeRollback(projectID int64) (rollbackRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rollbacks[projectID]
	delete(s.rollbacks, projectID)
	return r, ok
}
