package web

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy"
)

// Statuses of a build row, as words. Each has a colour on the page, but
// the word is always shown, so the page reads without colour.
const (
	StatusInSync    = "in sync"
	StatusRolling   = "rolling"
	StatusVerifying = "verifying"
	StatusFailed    = "failed"
	StatusPaused    = "paused"
	StatusWaiting   = "waiting"
)

// statusRank sorts problems first; ok is false for a word that is not a
// status. A switch, not a map: the overview ranks every row of every
// project on each render.
func statusRank(s string) (rank int, ok bool) {
	switch s {
	case StatusFailed:
		return 0, true
	case StatusWaiting:
		return 1, true
	case StatusRolling:
		return 2, true
	case StatusVerifying:
		return 3, true
	case StatusPaused:
		return 4, true
	case StatusInSync:
		return 5, true
	}
	return 0, false
}

func rank(s string) int {
	r, _ := statusRank(s)
	return r
}

// statusClass is the CSS class of a status.
func statusClass(s string) string {
	switch s {
	case StatusInSync:
		return "ok"
	case StatusFailed:
		return "bad"
	case StatusPaused:
		return "paused"
	case StatusWaiting:
		return "wait"
	}
	return "busy"
}

// versionCount is one running version and its healthy instances.
type versionCount struct {
	Version   string
	Instances int
}

// buildView is one build of one project: desired next to last, and what
// that means.
type buildView struct {
	Name       string
	Desired    store.Desired
	HasDesired bool
	Last       []versionCount
	ObservedAt time.Time
	HasLast    bool
	Status     string
	Why        string
}

// projectView is what the overview and the project page know of a
// project.
type projectView struct {
	Project   store.Project
	Builds    []buildView
	LatestRun *store.VerifyRun
	OpenPR    *store.DependencyPR
	Ctrl      controller.ProjectStatus
	HasCtrl   bool
	worst     string
}

// Status is the worst status of the project's builds.
func (v *projectView) Status() string { return v.worst }

func (v *projectView) setWorst() {
	v.worst = StatusInSync
	for _, b := range v.Builds {
		if rank(b.Status) < rank(v.worst) {
			v.worst = b.Status
		}
	}
}

// projectParts is what the store says about one project, before it is
// made into a projectView.
type projectParts struct {
	desired    []store.Desired
	last       map[string]store.Last
	latestRun  *store.VerifyRun
	openPR     *store.DependencyPR
	rejections []store.Rejection
}

// loadProject gathers what the dashboard shows about one project.
func (s *Server) loadProject(ctx context.Context, p store.Project) (*projectView, error) {
	var parts projectParts
	var err error
	if parts.desired, err = s.Store.DesiredStates(ctx, p.ID); err != nil {
		return nil, err
	}
	parts.last = make(map[string]store.Last, len(parts.desired))
	for _, d := range parts.desired {
		l, err := s.Store.Last(ctx, p.ID, d.Build)
		switch {
		case err == nil:
			parts.last[d.Build] = l
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	runs, err := s.Store.VerifyRuns(ctx, p.ID, 1)
	if err != nil {
		return nil, err
	}
	if len(runs) > 0 {
		parts.latestRun = &runs[0]
	}
	prs, err := s.Store.DependencyPRs(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for i := range prs {
		if prs[i].State == "open" {
			parts.openPR = &prs[i]
			break
		}
	}
	if parts.rejections, err = s.Store.Rejections(ctx, p.ID); err != nil {
		return nil, err
	}
	return s.view(p, parts), nil
}

// view makes what the store says about a project into what the dashboard
// shows.
func (s *Server) view(p store.Project, parts projectParts) *projectView {
	v := &projectView{Project: p, LatestRun: parts.latestRun, OpenPR: parts.openPR}
	if s.Controller != nil {
		v.Ctrl, v.HasCtrl = s.Controller.Status(p.ID)
	}
	var rejected *store.Rejection
	for i := range parts.rejections {
		if rejected == nil || parts.rejections[i].At.After(rejected.At) {
			rejected = &parts.rejections[i]
		}
	}
	// A rejection is news until a version passes verification after it.
	if rejected != nil && v.LatestRun != nil && goodRun(v.LatestRun.Status) && v.LatestRun.FinishedAt.After(rejected.At) {
		rejected = nil
	}
	for _, d := range parts.desired {
		b := buildView{Name: d.Build, Desired: d, HasDesired: d.Version != ""}
		l, ok := parts.last[d.Build]
		if ok {
			b.HasLast, b.ObservedAt = true, l.ObservedAt
			b.Last = versionCounts(l.Versions)
		}
		b.Status, b.Why = v.classify(d, l, rejected)
		v.Builds = append(v.Builds, b)
	}
	if len(parts.desired) == 0 {
		b := buildView{Name: "—"}
		b.Status, b.Why = v.classify(store.Desired{}, store.Last{}, rejected)
		v.Builds = append(v.Builds, b)
	}
	v.setWorst()
	return v
}

// versionCounts lists the versions with healthy instances, newest first.
func versionCounts(versions map[string]int) []versionCount {
	if len(versions) == 1 { // the common case, steady state: nothing to sort
		for ver, n := range versions {
			if n > 0 {
				return []versionCount{{ver, n}}
			}
		}
		return nil
	}
	sorted := (deploy.Last{Versions: versions}).SortedVersions()
	out := make([]versionCount, len(sorted))
	for i, ver := range sorted {
		out[i] = versionCount{ver, versions[ver]}
	}
	return out
}

func goodRun(status string) bool {
	return status == controller.RunPassed || status == controller.RunSkipped
}

// classify says where one build is and why, from what the controller's
// last reconcile found and, failing that, from the store alone.
func (v *projectView) classify(d store.Desired, l store.Last, rejected *store.Rejection) (string, string) {
	rejectedWhy := ""
	if rejected != nil {
		rejectedWhy = fmt.Sprintf("%s rejected: %s", rejected.Version, rejected.Reason)
	}
	if v.Project.Paused {
		why := "paused: Mainline keeps the desired state until resumed"
		if v.Project.Pinned != "" {
			why += "; pinned to " + v.Project.Pinned
		}
		return StatusPaused, why
	}
	if v.HasCtrl {
		c := v.Ctrl
		switch c.Result {
		case "error", "stalled":
			return StatusFailed, c.Stage + ": " + c.Reason
		case "waiting":
			if c.Stage == "build" && strings.Contains(c.Reason, "failed") {
				return StatusFailed, c.Reason
			}
			if c.Stage != "scale" && c.Stage != "verify" {
				return StatusWaiting, c.Reason
			}
		case "progress":
			if c.Stage == "scale" {
				if part, ok := reasonFor(c.Reason, d.Build); ok {
					if strings.Contains(part, "(depends_on)") {
						return StatusWaiting, part
					}
					return StatusRolling, join(part, rejectedWhy)
				}
			}
		}
	}
	insync := deploy.InSync(deploy.Desired{Version: d.Version, Instances: d.Instances}, deploy.Last{Versions: l.Versions})
	switch {
	case d.Version == "" && d.Instances == 0 && rejected == nil:
		return StatusWaiting, "no version desired yet"
	case !insync:
		healthy := l.Versions[d.Version]
		return StatusRolling, join(fmt.Sprintf("rolling to %s (%d/%d healthy)", orNothing(d.Version), healthy, d.Instances), rejectedWhy)
	}
	if r := v.LatestRun; r != nil && r.Version == d.Version {
		switch r.Status {
		case controller.RunRunning:
			return StatusVerifying, "verifying " + r.Version
		case controller.RunFailed, controller.RunError:
			if rejected == nil {
				return StatusFailed, fmt.Sprintf("%s verification %s: %s", r.Version, r.Status, r.Summary)
			}
		}
	}
	if v.HasCtrl && v.Ctrl.Stage == "verify" && v.Ctrl.Result != "ready" {
		return StatusVerifying, v.Ctrl.Reason
	}
	if rejected != nil {
		return StatusFailed, rejectedWhy
	}
	return StatusInSync, ""
}

// reasonFor picks one build's part of the scale stage's reason, which
// joins "build: …" parts with "; ".
func reasonFor(reason, build string) (string, bool) {
	for part := range strings.SplitSeq(reason, "; ") {
		if rest, ok := strings.CutPrefix(part, build+": "); ok {
			return rest, true
		}
	}
	return "", false
}

func join(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

func orNothing(v string) string {
	if v == "" {
		return "nothing"
	}
	return v
}

// overviewRow is one line of the overview: a project × build.
type overviewRow struct {
	P     *projectView
	B     *buildView
	First bool // first row of its project

	// What the row shows that takes a call to work out, filled in by
	// describe for the rows of the page shown only: the template then
	// just reads fields.
	Class                       string // CSS classes of the <tr>
	URL, RunURL                 string
	SetAgo, ObservedAgo, RunAgo string
}

// describe fills in what the row shows that the template would otherwise
// compute.
func (r *overviewRow) describe(now time.Time) {
	r.Class = "row-" + statusClass(r.B.Status)
	if r.First {
		r.Class = "first " + r.Class
	}
	r.URL = projectURL(r.P.Project.Name)
	r.SetAgo = ago(now, r.B.Desired.SetAt)
	r.ObservedAgo = ago(now, r.B.ObservedAt)
	if run := r.P.LatestRun; run != nil {
		r.RunURL = runURL(r.P.Project.Name, run.ID)
		r.RunAgo = ago(now, run.StartedAt)
	}
}

// loadAll gathers every project: from one snapshot when the store can
// take one, else a few projects at a time.
func (s *Server) loadAll(ctx context.Context) ([]*projectView, error) {
	if sn, ok := s.Store.(store.Snapshotter); ok {
		snap, err := sn.Snapshot(ctx)
		if err != nil {
			return nil, fmt.Errorf("read projects: %w", err)
		}
		return s.viewsOf(snap), nil
	}
	ps, err := s.Store.Projects(ctx)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	out := make([]*projectView, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(4, len(ps)) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = s.loadProject(ctx, ps[i])
			}
		})
	}
	for i := range ps {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", ps[i].Name, err)
		}
	}
	return out, nil
}

// viewsOf groups a snapshot by project. The snapshot's parts come
// ordered by project ID, so each project's share is a run of rows.
func (s *Server) viewsOf(snap store.Snapshot) []*projectView {
	index := make(map[int64]int, len(snap.Projects))
	for i, p := range snap.Projects {
		index[p.ID] = i
	}
	parts := make([]projectParts, len(snap.Projects))
	get := func(id int64) *projectParts {
		i, ok := index[id]
		if !ok {
			return nil // a project created after the projects were read
		}
		return &parts[i]
	}
	for i := 0; i < len(snap.Desired); {
		j := i + 1
		for j < len(snap.Desired) && snap.Desired[j].ProjectID == snap.Desired[i].ProjectID {
			j++
		}
		if p := get(snap.Desired[i].ProjectID); p != nil {
			p.desired = snap.Desired[i:j:j]
		}
		i = j
	}
	for _, l := range snap.Last {
		if p := get(l.ProjectID); p != nil {
			if p.last == nil {
				p.last = make(map[string]store.Last, len(p.desired))
			}
			p.last[l.Build] = l
		}
	}
	for i := range snap.LatestRuns {
		if p := get(snap.LatestRuns[i].ProjectID); p != nil {
			p.latestRun = &snap.LatestRuns[i]
		}
	}
	for _, r := range snap.Rejections {
		if p := get(r.ProjectID); p != nil {
			p.rejections = append(p.rejections, r)
		}
	}
	for i := range snap.OpenPRs {
		if p := get(snap.OpenPRs[i].ProjectID); p != nil && p.openPR == nil {
			p.openPR = &snap.OpenPRs[i]
		}
	}
	out := make([]*projectView, len(snap.Projects))
	for i, p := range snap.Projects {
		out[i] = s.view(p, parts[i])
	}
	return out
}

// overviewRows flattens, filters and sorts projects for the overview:
// problems first, then by name.
func overviewRows(views []*projectView, query, status string) []overviewRow {
	query = strings.ToLower(strings.TrimSpace(query))
	type ranked struct {
		overviewRow
		project, build int
	}
	var rows []ranked
	for _, v := range views {
		if query != "" && !strings.Contains(strings.ToLower(v.Project.Name), query) {
			continue
		}
		worst := rank(v.worst)
		for i := range v.Builds {
			b := &v.Builds[i]
			if status != "" && b.Status != status {
				continue
			}
			rows = append(rows, ranked{overviewRow{P: v, B: b}, worst, rank(b.Status)})
		}
	}
	slices.SortStableFunc(rows, func(a, b ranked) int {
		if d := a.project - b.project; d != 0 {
			return d
		}
		if c := strings.Compare(a.P.Project.Name, b.P.Project.Name); c != 0 {
			return c
		}
		if d := a.build - b.build; d != 0 {
			return d
		}
		return strings.Compare(a.B.Name, b.B.Name)
	})
	out := make([]overviewRow, len(rows))
	for i := range rows {
		out[i] = rows[i].overviewRow
		out[i].First = i == 0 || rows[i-1].P != rows[i].P
	}
	return out
}

// ago says how long ago t was, coarsely.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d ago", int(d/(24*time.Hour)))
}
