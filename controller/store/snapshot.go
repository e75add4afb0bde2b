package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// Snapshot is the current state of every project at once, for the
// dashboard's overview: a handful of queries in all instead of several per
// project. Its parts are read one after the other, not in one
// transaction, so a write in between may show in one part and not yet in
// another, as it would between two page loads.
type Snapshot struct {
	Projects   []Project
	Desired    []Desired      // every build of every project, by project and build
	Last       []Last         // every build's last state
	LatestRuns []VerifyRun    // each project's newest verification run, without its Report
	Rejections []Rejection    // every rejected version, newest first
	OpenPRs    []DependencyPR // dependency pull requests in state "open", newest first
}

// Snapshotter is an optional ability of a Store, found by type assertion:
// reading a Snapshot. Both SQL backends have it.
type Snapshotter interface {
	Snapshot(ctx context.Context) (Snapshot, error)
}

var _ Snapshotter = (*sqlStore)(nil)

// Snapshot reads every project's current state. Its queries run side by
// side on the read connections.
func (s *sqlStore) Snapshot(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	errs := make([]error, 6)
	var wg goer = &sync.WaitGroup{}
	if s.tx {
		wg = serial{} // one connection: one query at a time
	}
	wg.Go(func() { snap.Projects, errs[0] = s.Projects(ctx) })
	wg.Go(func() {
		snap.Desired, errs[1] = queryAll(ctx, s.r, "all desired states", scanDesired,
			"SELECT "+desiredCols+" FROM desired_states ORDER BY project_id, build")
	})
	wg.Go(func() {
		snap.Last, errs[2] = queryAll(ctx, s.r, "all last states", scanLast,
			"SELECT project_id, build, versions, observed_at FROM last_states ORDER BY project_id, build")
	})
	wg.Go(func() {
		// One index lookup per project for its newest run.
		snap.LatestRuns, errs[3] = queryAll(ctx, s.r, "latest verify runs", scanRunWithoutReport,
			`SELECT v.id, v.project_id, v.version, v.run_trigger, v.status, v.summary, v.started_at, v.finished_at
			FROM projects p JOIN verify_runs v ON v.id = (
				SELECT w.id FROM verify_runs w WHERE w.project_id = p.id ORDER BY w.started_at DESC, w.id DESC LIMIT 1)
			ORDER BY v.project_id`)
	})
	wg.Go(func() {
		snap.Rejections, errs[4] = queryAll(ctx, s.r, "all rejections", scanRejection,
			`SELECT project_id, version, reason, rejected_at FROM rejections ORDER BY rejected_at DESC, version DESC`)
	})
	wg.Go(func() {
		snap.OpenPRs, errs[5] = queryAll(ctx, s.r, "open dependency PRs", scanDependencyPR,
			`SELECT project_id, number, branch, title, state, checks, url, updated_at FROM dependency_prs
			WHERE state = 'open' ORDER BY project_id, number DESC`)
	})
	wg.Wait()
	return snap, errors.Join(errs...)
}

// goer runs funcs: side by side (a sync.WaitGroup) or one after the
// other (serial).
type goer interface {
	Go(func())
	Wait()
}

type serial struct{}

func (serial) Go(f func()) { f() }
func (serial) Wait()       {}

func scanRunWithoutReport(s scanner) (VerifyRun, error) {
	var r VerifyRun
	var finished sql.NullTime
	err := s.Scan(&r.ID, &r.ProjectID, &r.Version, &r.Trigger, &r.Status, &r.Summary, &r.StartedAt, &finished)
	r.StartedAt = r.StartedAt.UTC()
	r.FinishedAt = fromNull(finished)
	return r, err
}
