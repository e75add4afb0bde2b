package dependents

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy/config"
	"github.com/mainline-cd/mainline/providers"
)

// Store is what dependents day reads and writes in the controller's store.
type Store interface {
	Projects(ctx context.Context) ([]store.Project, error)
	ProjectByName(ctx context.Context, name string) (store.Project, error)
	AddEvent(ctx context.Context, e store.Event) (store.Event, error)
	Events(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	PutDependencyPR(ctx context.Context, pr store.DependencyPR) error
	DependencyPRs(ctx context.Context, projectID int64) ([]store.DependencyPR, error)
}

var _ Store = store.Store(nil)

// Clock is the source of time; the controller's clock satisfies it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d and returns a func
	// that cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// forgetter is an optional ability of a ModuleIndex with a cache: forget
// what it knows of one module, after that module was tagged during a run.
type forgetter interface {
	Forget(path string)
}

// Event kinds dependents day writes to a project's timeline.
const (
	EventOpened  = "dependency_pr_opened"
	EventUpdated = "dependency_pr_updated"
	EventMerged  = "dependency_pr_merged"
	EventRed     = "dependency_pr_red"
	EventClosed  = "dependency_pr_closed"
)

// StatusContext is the commit status Mainline sets on a pull request head
// when it runs the checks itself (local repositories have no CI).
const StatusContext = "mainline/dependencies"

// Day is dependents day over the store's projects. Set the exported fields,
// then call Run or RunProject; a Day keeps no state between runs and may be
// used by several goroutines, though runs of the same project at once would
// race for its pull request.
type Day struct {
	Store Store
	// SCM opens the repository a project watches (the controller's
	// Providers.SCM). Pull requests need providers.PullRequests, scratch
	// checkouts providers.Source.
	SCM func(ctx context.Context, p store.Project) (providers.SCM, error)
	// Index lists Go module versions; share one across runs.
	Index providers.ModuleIndex
	// Images lists image tags; nil leaves Dockerfiles alone.
	Images ImageIndex
	// Notifier is told about red upgrade pull requests; nil tells no one.
	Notifier providers.Notifier
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Clock is the source of time; nil is the wall clock.
	Clock Clock
	// GoBin is the go command (default "go").
	GoBin string
	// Env is added to the process environment of every command run in a
	// scratch checkout: GOPROXY, GOPRIVATE, GONOSUMDB… GOFLAGS always gets
	// -mod=mod. Values may hold credentials; they are masked in output.
	Env []string
	// CommandTimeout bounds each command in a scratch checkout (default
	// 10 minutes).
	CommandTimeout time.Duration
	// WaveWait is how long, after a wave merged upgrades, to wait for the
	// merged projects to be tagged and (for projects with builds) verified
	// or rolled back before the next wave starts. Zero does not wait: the
	// next wave starts at once and sees what has happened so far.
	WaveWait time.Duration
	// PollInterval is how often a wave wait looks (default 5 s).
	PollInterval time.Duration
	// OwnChecks reports whether Mainline runs a project's pull request
	// checks itself because no CI does; nil means for local repositories
	// (SCM "git").
	OwnChecks func(store.Project) bool
	// DashboardURL, when set, is the target of commit statuses.
	DashboardURL string
}

// Report is what a run did, project by project, in wave order.
type Report struct {
	Projects []ProjectReport
	// Stopped says why the later waves did not run, when a deploy of an
	// earlier wave was rolled back.
	Stopped string
}

// ProjectReport is what a run did for one project.
type ProjectReport struct {
	Project  string
	Wave     int    // 1 for the first wave
	Skipped  string // why the project was not looked at, if it was not
	Upgrades []Upgrade
	LeftOut  []LeftOut
	// Action is what happened to the pull request: "opened", "updated",
	// "unchanged", "closed" (nothing left to upgrade) or "" (none).
	Action   string
	PR       providers.PullRequest
	Checks   providers.CommitState
	Merged   bool
	MergeSHA string
	MergedAt time.Time // when Mainline asked for the merge
	Err      error
}

func (d *Day) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func (d *Day) clock() Clock {
	if d.Clock == nil {
		return systemClock{}
	}
	return d.Clock
}

// Run runs dependents day over every project, wave by wave. Failures of
// one project are in its report and do not stop the others; the error is
// for failures of the run itself.
func (d *Day) Run(ctx context.Context) (Report, error) {
	ps, err := d.Store.Projects(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("dependents day: list projects: %w", err)
	}
	return d.run(ctx, ps)
}

// RunProject runs dependents day for one project.
func (d *Day) RunProject(ctx context.Context, name string) (ProjectReport, error) {
	p, err := d.Store.ProjectByName(ctx, name)
	if err != nil {
		return ProjectReport{Project: name}, fmt.Errorf("dependents day: project %s: %w", name, err)
	}
	rep, err := d.run(ctx, []store.Project{p})
	if err != nil {
		return ProjectReport{Project: name}, err
	}
	return rep.Projects[0], rep.Projects[0].Err
}

// repo is a project as dependents day sees it at the start of a run.
type repo struct {
	p      store.Project
	scm    providers.SCM
	prs    providers.PullRequests
	branch string
	head   string
	cfg    *config.Config
	gomod  []byte
	module string // module path of go.mod, if any
	skip   string
	err    error
	deps   []*repo // watched projects whose modules this one requires
}

func (d *Day) run(ctx context.Context, ps []store.Project) (Report, error) {
	log := d.logger()
	repos := make([]*repo, 0, len(ps))
	for _, p := range ps {
		repos = append(repos, d.load(ctx, p))
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	waves := orderWaves(repos)
	var rep Report
	for i, wave := range waves {
		var merged []mergedRepo
		for _, r := range wave {
			pr := d.project(ctx, r)
			pr.Wave = i + 1
			if pr.Err != nil {
				log.Warn("dependents day", "project", r.p.Name, "err", pr.Err)
			}
			if pr.Merged {
				merged = append(merged, mergedRepo{r: r, sha: pr.MergeSHA, at: pr.MergedAt})
			}
			rep.Projects = append(rep.Projects, pr)
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if i == len(waves)-1 || len(merged) == 0 {
			continue
		}
		stop, err := d.waitWave(ctx, merged, repos)
		if err != nil {
			return rep, err
		}
		if stop != "" {
			rep.Stopped = stop
			for _, later := range waves[i+1:] {
				for _, r := range later {
					rep.Projects = append(rep.Projects, ProjectReport{Project: r.p.Name, Wave: i + 2, Skipped: "an earlier wave was stopped: " + stop})
				}
			}
			break
		}
	}
	return rep, nil
}

// load opens a project's repository and reads what the run needs at the
// head of its branch.
func (d *Day) load(ctx context.Context, p store.Project) *repo {
	r := &repo{p: p}
	if p.Paused {
		r.skip = "paused"
		return r
	}
	scm, err := d.SCM(ctx, p)
	if err != nil {
		r.err = fmt.Errorf("open repository: %w", err)
		return r
	}
	r.scm = scm
	prs, ok := scm.(providers.PullRequests)
	if !ok {
		r.skip = "its repository cannot open pull requests"
		return r
	}
	r.prs = prs
	r.branch = p.Branch
	if r.branch == "" {
		if r.branch, err = scm.DefaultBranch(ctx); err != nil {
			r.err = fmt.Errorf("default branch: %w", err)
			return r
		}
	}
	if r.head, err = scm.HeadSHA(ctx, r.branch); err != nil {
		r.err = fmt.Errorf("head of %s: %w", r.branch, err)
		return r
	}
	data, err := scm.ReadFile(ctx, r.head, ".mainline.yaml")
	if errors.Is(err, providers.ErrNotFound) {
		r.skip = "no .mainline.yaml"
		return r
	}
	if err != nil {
		r.err = fmt.Errorf("read .mainline.yaml: %w", err)
		return r
	}
	if r.cfg, err = config.Parse(".mainline.yaml", data); err != nil {
		r.skip = "invalid .mainline.yaml: " + oneLine(err.Error())
		return r
	}
	if p.Branch == "" && r.cfg.Branch != "" && r.cfg.Branch != r.branch {
		r.branch = r.cfg.Branch
		if r.head, err = scm.HeadSHA(ctx, r.branch); err != nil {
			r.err = fmt.Errorf("head of %s: %w", r.branch, err)
			return r
		}
	}
	r.gomod, err = scm.ReadFile(ctx, r.head, "go.mod")
	switch {
	case errors.Is(err, providers.ErrNotFound):
		r.gomod = nil
	case err != nil:
		r.err = fmt.Errorf("read go.mod: %w", err)
	default:
		r.module = ModulePath(r.gomod)
	}
	return r
}

// orderWaves orders repositories so that every watched library comes before the
// repositories that require its module: wave 1 requires no other watched
// module, wave 2 only wave 1's, and so on. Repositories in a cycle share
// the last wave.
func orderWaves(repos []*repo) [][]*repo {
	byModule := map[string]*repo{}
	for _, r := range repos {
		if r.module != "" {
			byModule[r.module] = r
		}
	}
	for _, r := range repos {
		r.deps = nil
		if r.gomod == nil {
			continue
		}
		for _, req := range requires(r.gomod) {
			if dep, ok := byModule[req]; ok && dep != r {
				r.deps = append(r.deps, dep)
			}
		}
	}
	done := map[*repo]bool{}
	remaining := slices.Clone(repos)
	var waves [][]*repo
	for len(remaining) > 0 {
		var wave, rest []*repo
		for _, r := range remaining {
			ready := true
			for _, dep := range r.deps {
				ready = ready && done[dep]
			}
			if ready {
				wave = append(wave, r)
			} else {
				rest = append(rest, r)
			}
		}
		if len(wave) == 0 { // a cycle
			wave, rest = rest, nil
		}
		for _, r := range wave {
			done[r] = true
		}
		waves = append(waves, wave)
		remaining = rest
	}
	return waves
}

// project runs dependents day for one repository: find, try, open or
// update the pull request, check it and merge it.
func (d *Day) project(ctx context.Context, r *repo) ProjectReport {
	rep := ProjectReport{Project: r.p.Name, Skipped: r.skip, Err: r.err}
	if r.skip != "" || r.err != nil {
		return rep
	}
	log := d.logger().With("project", r.p.Name)
	now := d.clock().Now().UTC()
	policy := PolicyFor(r.cfg.Dependencies, now)
	finder := Finder{Index: d.Index, Images: d.Images}

	var ups []Upgrade
	if r.gomod != nil && d.Index != nil {
		gu, left, err := finder.GoModule(ctx, r.gomod, policy)
		if err != nil {
			rep.Err = err
			return rep
		}
		ups, rep.LeftOut = gu, left
	}
	seen := map[string]bool{}
	for _, b := range r.cfg.Builds {
		if b.Dockerfile == "" || seen[b.Dockerfile] || d.Images == nil {
			continue
		}
		seen[b.Dockerfile] = true
		data, err := r.scm.ReadFile(ctx, r.head, b.Dockerfile)
		if err != nil {
			rep.LeftOut = append(rep.LeftOut, LeftOut{Upgrade: Upgrade{Ecosystem: DockerImage, File: b.Dockerfile, Name: b.Dockerfile}, Reason: "cannot read: " + oneLine(err.Error())})
			continue
		}
		du, left := finder.Dockerfile(ctx, b.Dockerfile, data, policy)
		ups = append(ups, du...)
		rep.LeftOut = append(rep.LeftOut, left...)
	}

	open, err := r.prs.PullRequestsFrom(ctx, Branch)
	if err != nil {
		rep.Err = err
		return rep
	}
	var existing *providers.PullRequest
	for i := range open {
		if open[i].Base == r.branch {
			existing = &open[i]
			break
		}
	}

	if len(ups) == 0 {
		if existing != nil {
			rep.Err = d.closeObsolete(ctx, r, *existing, "Everything in this pull request is upgraded on "+r.branch+" already; closing it.")
			rep.Action, rep.PR = "closed", *existing
		}
		return rep
	}

	src, ok := r.scm.(providers.Source)
	if !ok {
		rep.Skipped = "its repository cannot hand out source trees for a scratch checkout"
		return rep
	}
	ws, err := d.workspace(ctx, src, r, r.head)
	if err != nil {
		rep.Err = err
		return rep
	}
	res, err := ws.tryAll(ctx, units(ups, r.cfg.Dependencies.Group))
	if err != nil {
		rep.Err = err
		return rep
	}
	rep.Upgrades = res.kept
	rep.LeftOut = append(rep.LeftOut, res.left...)
	for _, l := range res.left {
		log.Info("upgrade left out", "upgrade", l.Upgrade.String(), "reason", l.Reason)
	}
	if len(res.kept) == 0 || len(res.files) == 0 {
		if existing != nil {
			rep.Err = d.closeObsolete(ctx, r, *existing, "None of the upgrades in this pull request pass their checks on "+r.branch+" any more; closing it. The next run tries again.")
			rep.Action, rep.PR = "closed", *existing
		}
		return rep
	}

	title, body := Title(len(res.kept)), Body(res.kept, rep.LeftOut)
	message := commitMessage(title, res.kept)
	pr, action, err := d.publish(ctx, r, existing, title, body, message, res.files)
	if err != nil {
		rep.Err = err
		return rep
	}
	rep.PR, rep.Action = pr, action
	prev := d.storedPR(ctx, r.p.ID, pr.Number)
	if action != "unchanged" {
		kind := EventOpened
		if action == "updated" {
			kind = EventUpdated
		}
		d.event(ctx, r.p, kind, "%s #%d: %s (%d left out) %s", action, pr.Number, upgradeList(res.kept), len(res.left), pr.URL)
	}
	record := store.DependencyPR{ProjectID: r.p.ID, Number: pr.Number, Branch: Branch, Title: title, State: "open", Checks: string(providers.StatePending), URL: pr.URL, UpdatedAt: now}
	d.putPR(ctx, record)

	state, err := d.checks(ctx, r, src, pr)
	if err != nil {
		rep.Err = err
		return rep
	}
	rep.Checks = state
	record.Checks = string(state)
	switch state {
	case providers.StateFailure, providers.StateError:
		record.Checks = string(providers.StateFailure)
		if prev.Checks != string(providers.StateFailure) || action != "unchanged" {
			d.event(ctx, r.p, EventRed, "checks of #%d are red; left open: %s", pr.Number, pr.URL)
			d.notify(ctx, r.p, EventRed, fmt.Sprintf("Checks of dependency pull request #%d are red", pr.Number), pr.URL)
		}
	case providers.StateSuccess:
		if !r.cfg.Dependencies.Automerge {
			break
		}
		rep.MergedAt = d.clock().Now().UTC()
		sha, err := r.prs.MergePullRequest(ctx, pr.Number, pr.HeadSHA, message)
		if err != nil {
			rep.Err = fmt.Errorf("merge #%d: %w", pr.Number, err)
			break
		}
		rep.Merged, rep.MergeSHA = true, sha
		record.State = "merged"
		d.event(ctx, r.p, EventMerged, "merged #%d (%s) as %s: %s", pr.Number, title, short(sha), upgradeList(res.kept))
	}
	record.UpdatedAt = d.clock().Now().UTC()
	d.putPR(ctx, record)
	return rep
}

// units splits upgrades into what is tried and left out together: each
// upgrade alone, or, with grouping, the upgrades of one repository or path
// prefix (every github.com/aws/aws-sdk-go-v2 module together).
func units(ups []Upgrade, group bool) [][]Upgrade {
	if !group {
		out := make([][]Upgrade, len(ups))
		for i, u := range ups {
			out[i] = []Upgrade{u}
		}
		return out
	}
	var keys []string
	byKey := map[string][]Upgrade{}
	for _, u := range ups {
		k := groupKey(u)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], u)
	}
	out := make([][]Upgrade, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

// groupKey is the repository a module most likely lives in: the first
// three path elements for the big code hosts, the module path otherwise.
func groupKey(u Upgrade) string {
	if u.Ecosystem != GoModule {
		return u.Ecosystem + " " + u.Name
	}
	parts := strings.Split(u.Name, "/")
	switch parts[0] {
	case "github.com", "gitlab.com", "bitbucket.org", "golang.org":
		if len(parts) >= 3 {
			return strings.Join(parts[:3], "/")
		}
	}
	return u.Name
}

func (d *Day) workspace(ctx context.Context, src providers.Source, r *repo, ref string) (*workspace, error) {
	var buf bytes.Buffer
	if err := src.Archive(ctx, ref, &buf); err != nil {
		return nil, fmt.Errorf("archive %s: %w", short(ref), err)
	}
	ws := &workspace{
		archive: buf.Bytes(),
		goBin:   d.GoBin,
		env:     commandEnv(os.Environ(), d.Env),
		timeout: d.CommandTimeout,
		secrets: urlSecrets(d.Env),
	}
	if ws.goBin == "" {
		ws.goBin = "go"
	}
	if ws.timeout <= 0 {
		ws.timeout = 10 * time.Minute
	}
	for _, b := range r.cfg.Builds {
		if c := b.Build.Command; c != "" && !slices.Contains(ws.commands, c) {
			ws.commands = append(ws.commands, c)
		}
	}
	return ws, nil
}

// publish makes the branch hold files on top of the head and opens the
// pull request, or updates the open one. A pull request whose branch
// already holds exactly these files is left as it is, so its checks stay.
func (d *Day) publish(ctx context.Context, r *repo, existing *providers.PullRequest, title, body, message string, files []providers.FileChange) (providers.PullRequest, string, error) {
	if existing != nil {
		pr := *existing
		action := "unchanged"
		if !d.branchHolds(ctx, r, pr.HeadSHA, files) {
			sha, err := r.prs.CommitFiles(ctx, Branch, r.head, message, files)
			if err != nil {
				return pr, "", fmt.Errorf("update #%d: %w", pr.Number, err)
			}
			pr.HeadSHA, action = sha, "updated"
		}
		if pr.Title != title || pr.Body != body {
			if err := r.prs.UpdatePullRequest(ctx, pr.Number, title, body); err != nil {
				return pr, "", err
			}
			pr.Title, pr.Body = title, body
			if action == "unchanged" {
				action = "updated"
			}
		}
		return pr, action, nil
	}
	sha, err := r.prs.CommitFiles(ctx, Branch, r.head, message, files)
	if err != nil {
		return providers.PullRequest{}, "", fmt.Errorf("commit upgrades: %w", err)
	}
	pr, err := r.prs.OpenPullRequest(ctx, providers.PullRequest{Title: title, Body: body, Head: Branch, Base: r.branch})
	if err != nil {
		return providers.PullRequest{}, "", err
	}
	if pr.HeadSHA == "" {
		pr.HeadSHA = sha
	}
	return pr, "opened", nil
}

// branchHolds reports whether the commit sha has every file with the same
// content.
func (d *Day) branchHolds(ctx context.Context, r *repo, sha string, files []providers.FileChange) bool {
	if sha == "" {
		return false
	}
	for _, f := range files {
		data, err := r.scm.ReadFile(ctx, sha, f.Path)
		if err != nil || !bytes.Equal(data, f.Content) {
			return false
		}
	}
	return true
}

// checks returns the combined status of the pull request head. For
// repositories without CI, Mainline runs the checks itself on the head (the
// build commands, go build, go test) and sets the status first.
func (d *Day) checks(ctx context.Context, r *repo, src providers.Source, pr providers.PullRequest) (providers.CommitState, error) {
	state, err := r.prs.CombinedStatus(ctx, pr.HeadSHA)
	if err != nil {
		return "", fmt.Errorf("status of #%d: %w", pr.Number, err)
	}
	own := d.OwnChecks
	if own == nil {
		own = func(p store.Project) bool { return p.SCM == "git" }
	}
	setter, canSet := r.scm.(providers.StatusSetter)
	if state != providers.StatePending || !own(r.p) || !canSet {
		return state, nil
	}
	ws, err := d.workspace(ctx, src, r, pr.HeadSHA)
	if err != nil {
		return "", err
	}
	_, log, err := ws.try(ctx, nil)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	st := providers.CommitStatus{State: providers.StateSuccess, Context: StatusContext, Description: "build and tests pass", TargetURL: d.DashboardURL}
	if err != nil {
		st.State, st.Description = providers.StateFailure, truncate(failReason(err), 140)
		d.logger().Info("checks failed", "project", r.p.Name, "pr", pr.Number, "output", log)
	}
	if err := setter.SetCommitStatus(ctx, pr.HeadSHA, st); err != nil {
		return "", fmt.Errorf("set status on #%d: %w", pr.Number, err)
	}
	return r.prs.CombinedStatus(ctx, pr.HeadSHA)
}

// closeObsolete closes a pull request nothing is left in.
func (d *Day) closeObsolete(ctx context.Context, r *repo, pr providers.PullRequest, comment string) error {
	if err := r.prs.ClosePullRequest(ctx, pr.Number, comment); err != nil {
		return fmt.Errorf("close #%d: %w", pr.Number, err)
	}
	d.putPR(ctx, store.DependencyPR{ProjectID: r.p.ID, Number: pr.Number, Branch: Branch, Title: pr.Title, State: "closed", Checks: d.storedPR(ctx, r.p.ID, pr.Number).Checks, URL: pr.URL, UpdatedAt: d.clock().Now().UTC()})
	d.event(ctx, r.p, EventClosed, "closed #%d: %s", pr.Number, comment)
	return nil
}

func (d *Day) storedPR(ctx context.Context, projectID int64, number int) store.DependencyPR {
	prs, err := d.Store.DependencyPRs(ctx, projectID)
	if err != nil {
		return store.DependencyPR{}
	}
	for _, p := range prs {
		if p.Number == number {
			return p
		}
	}
	return store.DependencyPR{}
}

func (d *Day) putPR(ctx context.Context, pr store.DependencyPR) {
	if err := d.Store.PutDependencyPR(ctx, pr); err != nil {
		d.logger().Error("record dependency pull request", "project_id", pr.ProjectID, "pr", pr.Number, "err", err)
	}
}

// event appends to a project's timeline and logs; a failure to record is
// logged, not fatal: the pull request itself is the state.
func (d *Day) event(ctx context.Context, p store.Project, kind, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.logger().Info(msg, "project", p.Name, "event", kind)
	if _, err := d.Store.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: kind, Message: msg, At: d.clock().Now().UTC()}); err != nil {
		d.logger().Error("record event", "project", p.Name, "event", kind, "err", err)
	}
}

func (d *Day) notify(ctx context.Context, p store.Project, kind, msg, url string) {
	if d.Notifier == nil {
		return
	}
	err := d.Notifier.Notify(ctx, providers.Notification{Project: p.Name, Kind: kind, Message: msg, URL: url, At: d.clock().Now().UTC()})
	if err != nil {
		d.logger().Warn("notify", "project", p.Name, "kind", kind, "err", err)
	}
}

func commitMessage(title string, ups []Upgrade) string {
	var b strings.Builder
	b.WriteString(title + "\n\n")
	for _, u := range ups {
		fmt.Fprintf(&b, "- %s (%s)\n", u, u.Kind)
	}
	return b.String()
}

func upgradeList(ups []Upgrade) string {
	s := make([]string, len(ups))
	for i, u := range ups {
		s[i] = u.String()
	}
	return strings.Join(s, ", ")
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// mergedRepo is a project whose upgrade pull request a wave merged.
type mergedRepo struct {
	r   *repo
	sha string
	at  time.Time
}

// waitWave waits, up to WaveWait, until every merged project is tagged
// (when a later project requires its module) and, when it has builds, its
// deploy verified or rolled back. It returns why the later waves must not
// run: a deploy of this wave was rolled back.
func (d *Day) waitWave(ctx context.Context, merged []mergedRepo, all []*repo) (string, error) {
	needed := map[*repo]bool{}
	for _, r := range all {
		for _, dep := range r.deps {
			needed[dep] = true
		}
	}
	interval := d.PollInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	deadline := d.clock().Now().Add(d.WaveWait)
	pending := slices.Clone(merged)
	for {
		var still []mergedRepo
		for _, m := range pending {
			tagged, deployed, rolledBack, err := d.afterMerge(ctx, m, needed[m.r])
			if err != nil {
				d.logger().Warn("wave wait", "project", m.r.p.Name, "err", err)
			}
			if rolledBack {
				return fmt.Sprintf("the deploy of %s's upgrade (%s) was rolled back", m.r.p.Name, short(m.sha)), nil
			}
			if tagged && needed[m.r] && m.r.module != "" {
				if f, ok := d.Index.(forgetter); ok {
					f.Forget(m.r.module)
				}
			}
			if !tagged || !deployed {
				still = append(still, m)
			}
		}
		pending = still
		if len(pending) == 0 || !d.clock().Now().Before(deadline) {
			for _, m := range pending {
				d.logger().Info("next wave starts before a merged project finished", "project", m.r.p.Name, "merge", short(m.sha))
			}
			return "", nil
		}
		if err := d.sleep(ctx, interval); err != nil {
			return "", err
		}
	}
}

// afterMerge looks at what became of a merge: tagged (or no tag needed),
// deployed (verified or completed; or nothing to deploy), rolled back.
func (d *Day) afterMerge(ctx context.Context, m mergedRepo, needTag bool) (tagged, deployed, rolledBack bool, err error) {
	tagged, deployed = !needTag, len(m.r.cfg.Builds) == 0
	if needTag {
		tags, err := m.r.scm.Tags(ctx)
		if err != nil {
			return false, deployed, false, err
		}
		for _, t := range tags {
			tagged = tagged || t.SHA == m.sha
		}
	}
	evs, err := d.Store.Events(ctx, store.EventQuery{ProjectID: m.r.p.ID, Limit: 100})
	if err != nil {
		return tagged, deployed, false, err
	}
	since := m.at.Truncate(time.Millisecond) // stores keep coarser times
	for _, e := range evs {
		if e.At.Before(since) {
			continue
		}
		switch e.Kind {
		case "rolled_back":
			return tagged, true, true, nil
		case "verified", "rollout_completed":
			deployed = true
		}
	}
	return tagged, deployed, false, nil
}

func (d *Day) sleep(ctx context.Context, dur time.Duration) error {
	done := make(chan struct{})
	stop := d.clock().AfterFunc(dur, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}

// requires lists the module paths a go.mod requires.
func requires(gomod []byte) []string {
	mf, err := parseGoMod(gomod)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(mf.Require))
	for _, r := range mf.Require {
		out = append(out, r.Mod.Path)
	}
	return out
}
