package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	Last       []Last         // every build's last state, by project and build
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
	var (
		snap    Snapshot
		orphans []Last
	)
	errs := make([]error, 6)
	var wg goer = &sync.WaitGroup{}
	if s.tx {
		wg = serial{} // one connection: one query at a time
	}
	wg.Go(func() { snap.Projects, errs[0] = s.Projects(ctx) })
	wg.Go(func() { snap.Desired, snap.Last, errs[1] = s.desiredAndLast(ctx) })
	wg.Go(func() {
		// Last states of builds with no desired state, rare (a build
		// removed from .mainline.yaml), to complete Last.
		orphans, errs[2] = queryAll(ctx, s.r, "last states without desired states", scanLast,
			`SELECT l.project_id, l.build, l.versions, l.observed_at FROM last_states l
			WHERE NOT EXISTS (SELECT 1 FROM desired_states d WHERE d.project_id = l.project_id AND d.build = l.build)
			ORDER BY l.project_id, l.build`)
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
	if err := errors.Join(errs...); err != nil {
		return Snapshot{}, err
	}
	if len(orphans) > 0 {
		snap.Last = append(snap.Last, orphans...)
		slices.SortFunc(snap.Last, func(a, b Last) int {
			return cmp.Or(cmp.Compare(a.ProjectID, b.ProjectID), strings.Compare(a.Build, b.Build))
		})
	}
	return snap, nil
}

// desiredAndLast reads every desired state with its build's last state
// in one pass: a row costs more to fetch through the driver than to join,
// and the overview needs both for every build.
func (s *sqlStore) desiredAndLast(ctx context.Context) ([]Desired, []Last, error) {
	const what = "desired and last states"
	rows, err := s.r.QueryContext(ctx, `SELECT d.project_id, d.build, d.version, d.instances, d.set_at, d.set_by, d.revision,
			l.versions, l.observed_at
		FROM desired_states d LEFT JOIN last_states l ON l.project_id = d.project_id AND l.build = d.build
		ORDER BY d.project_id, d.build`)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var (
		desired  []Desired
		last     []Last
		versions sql.NullString
		observed sql.NullTime
	)
	for rows.Next() {
		var d Desired
		if err := rows.Scan(&d.ProjectID, &d.Build, &d.Version, &d.Instances, &d.SetAt, &d.SetBy, &d.Revision, &versions, &observed); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", what, err)
		}
		d.SetAt = d.SetAt.UTC()
		desired = append(desired, d)
		if !versions.Valid {
			continue
		}
		l := Last{ProjectID: d.ProjectID, Build: d.Build, ObservedAt: fromNull(observed)}
		if l.Versions, err = decodeVersions(versions.String); err != nil {
			return nil, nil, fmt.Errorf("%s: last %s of project %d: versions: %w", what, d.Build, d.ProjectID, err)
		}
		last = append(last, l)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	return desired, last, nil
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
