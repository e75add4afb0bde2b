package dependents_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/controller/dependents/proxytest"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/github"
	"github.com/mainline-cd/mainline/providers/github/githubtest"
	"github.com/mainline-cd/mainline/providers/goproxy"
)

// tidied returns files with go.sum made by go mod tidy against px, as a
// developer would have committed them.
func tidied(t *testing.T, px *proxytest.Proxy, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	run(t, dir, px.Env(), "go", "mod", "tidy")
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(data)
	}
	return out
}

func shopFiles() map[string]string {
	return map[string]string{
		"go.mod":         "module example.com/shop\n\ngo 1.22\n\nrequire example.com/thirdparty v1.0.0\n",
		"main.go":        "package main\n\nimport \"example.com/thirdparty\"\n\nfunc main() { println(thirdparty.Hello()) }\n",
		".mainline.yaml": "dependencies: { automerge: true }\n",
	}
}

// githubDay is a Day over one GitHub fake repository.
type githubDay struct {
	day     *dependents.Day
	st      store.Store
	project store.Project
	repo    *githubtest.Repo
	name    string
	client  *gh.Client
}

func newGitHubDay(t *testing.T, srv *githubtest.Server, px *proxytest.Proxy, name string) *githubDay {
	t.Helper()
	repo := srv.AddRepo("acme", name, "main")
	repo.Commit("main", "initial", tidied(t, px, shopFiles()))
	st := storetest.SQLite(t)
	p, err := st.CreateProject(context.Background(), store.Project{Name: "acme/" + name, SCM: "github", Location: "acme/" + name})
	if err != nil {
		t.Fatal(err)
	}
	// No cache: each run sees what the proxy holds now.
	index, err := goproxy.New(goproxy.Config{Proxy: px.URL, TTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	open := func(_ context.Context, p store.Project) (providers.SCM, error) {
		owner, name, _ := strings.Cut(p.Location, "/")
		return github.New(srv.Client(), owner, name), nil
	}
	return &githubDay{
		day:     &dependents.Day{Store: st, SCM: open, Index: index, Env: px.Env()},
		st:      st,
		project: p,
		repo:    repo,
		name:    name,
		client:  srv.Client(),
	}
}

func (g *githubDay) run(t *testing.T) dependents.ProjectReport {
	t.Helper()
	rep, err := g.day.RunProject(context.Background(), g.project.Name)
	if err != nil {
		t.Fatalf("RunProject: %v", err)
	}
	return rep
}

func (g *githubDay) setStatus(t *testing.T, sha, state string) {
	t.Helper()
	_, _, err := g.client.Repositories.CreateStatus(context.Background(), "acme", g.name, sha, &gh.RepoStatus{State: gh.String(state), Context: gh.String("ci/test")})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGitHubPullRequestLifecycle runs dependents day against the GitHub
// fake: the pull request is opened on the stable branch with a table body,
// updated in place by a newer run, left open while its checks are red, and
// merged once they are green.
func TestGitHubPullRequestLifecycle(t *testing.T) {
	px := proxytest.New(t, thirdparty("v1.0.0"), thirdparty("v1.1.0"))
	srv := githubtest.New(t)
	g := newGitHubDay(t, srv, px, "shop")

	rep := g.run(t)
	if rep.Action != "opened" || rep.Merged || rep.Checks != providers.StatePending {
		t.Fatalf("first run: action %q, merged %v, checks %q; want opened, not merged, pending", rep.Action, rep.Merged, rep.Checks)
	}
	number := rep.PR.Number
	pr, ok := g.repo.PullRequest(number)
	if !ok {
		t.Fatalf("pull request #%d not in the fake", number)
	}
	if pr.GetHead().GetRef() != dependents.Branch || pr.GetBase().GetRef() != "main" || pr.GetTitle() != "Upgrade 1 dependency" {
		t.Errorf("pull request from %q into %q titled %q; want %s into main, \"Upgrade 1 dependency\"", pr.GetHead().GetRef(), pr.GetBase().GetRef(), pr.GetTitle(), dependents.Branch)
	}
	for _, want := range []string{"| module | from | to | kind |", "| example.com/thirdparty | v1.0.0 | [v1.1.0](https://pkg.go.dev/example.com/thirdparty@v1.1.0) | minor |"} {
		if !strings.Contains(pr.GetBody(), want) {
			t.Errorf("body lacks %q:\n%s", want, pr.GetBody())
		}
	}
	if gomod, _ := g.repo.File(dependents.Branch, "go.mod"); !strings.Contains(gomod, "example.com/thirdparty v1.1.0") {
		t.Errorf("go.mod on %s:\n%s", dependents.Branch, gomod)
	}

	// A newer release: the next run updates the same pull request.
	px.Add(thirdparty("v1.2.0"))
	rep = g.run(t)
	if rep.Action != "updated" || rep.PR.Number != number {
		t.Fatalf("second run: action %q on #%d; want updated on #%d", rep.Action, rep.PR.Number, number)
	}
	pr, _ = g.repo.PullRequest(number)
	if !strings.Contains(pr.GetBody(), "| v1.0.0 | [v1.2.0]") {
		t.Errorf("updated body lacks v1.2.0:\n%s", pr.GetBody())
	}
	head := g.repo.Head(dependents.Branch)
	if gomod, _ := g.repo.File(head, "go.mod"); !strings.Contains(gomod, "example.com/thirdparty v1.2.0") {
		t.Errorf("go.mod at the updated head:\n%s", gomod)
	}
	if open, _ := g.day.Store.DependencyPRs(context.Background(), g.project.ID); len(open) != 1 {
		t.Errorf("stored pull requests = %+v, want one", open)
	}

	// Red checks leave it open, with an event.
	g.setStatus(t, head, "failure")
	rep = g.run(t)
	if rep.Merged || rep.Checks != providers.StateFailure || rep.Action != "unchanged" {
		t.Errorf("red run: merged %v, checks %q, action %q; want open, failure, unchanged", rep.Merged, rep.Checks, rep.Action)
	}
	if pr, _ := g.repo.PullRequest(number); pr.GetState() != "open" {
		t.Errorf("after red checks the pull request is %s, want open", pr.GetState())
	}
	if got := events(t, g.st, g.project.ID, dependents.EventRed); len(got) != 1 {
		t.Errorf("red events = %q, want one", got)
	}

	// Green checks merge it.
	g.setStatus(t, head, "success")
	rep = g.run(t)
	if !rep.Merged || rep.Checks != providers.StateSuccess {
		t.Fatalf("green run: merged %v, checks %q; want merged, success (err %v)", rep.Merged, rep.Checks, rep.Err)
	}
	if pr, _ := g.repo.PullRequest(number); !pr.GetMerged() {
		t.Errorf("pull request #%d is not merged in the fake", number)
	}
	if gomod, _ := g.repo.File("main", "go.mod"); !strings.Contains(gomod, "example.com/thirdparty v1.2.0") {
		t.Errorf("go.mod on main after the merge:\n%s", gomod)
	}
	prs, _ := g.st.DependencyPRs(context.Background(), g.project.ID)
	if len(prs) != 1 || prs[0].State != "merged" {
		t.Errorf("stored pull requests = %+v, want #%d merged", prs, number)
	}
	if rep := g.run(t); rep.Action != "" || len(rep.Upgrades) != 0 {
		t.Errorf("run after the merge: action %q, upgrades %v; want nothing", rep.Action, rep.Upgrades)
	}
}

// TestGitHubObsoletePullRequestClosed: when main already has what the pull
// request proposes, the next run closes it with a comment.
func TestGitHubObsoletePullRequestClosed(t *testing.T) {
	px := proxytest.New(t, thirdparty("v1.0.0"), thirdparty("v1.1.0"))
	srv := githubtest.New(t)
	g := newGitHubDay(t, srv, px, "obsolete")
	rep := g.run(t)
	if rep.Action != "opened" {
		t.Fatalf("first run: action %q, want opened", rep.Action)
	}
	// A developer upgrades on main by hand.
	files := shopFiles()
	files["go.mod"] = strings.Replace(files["go.mod"], "v1.0.0", "v1.1.0", 1)
	g.repo.Commit("main", "upgrade by hand", tidied(t, px, files))

	rep = g.run(t)
	if rep.Action != "closed" {
		t.Fatalf("second run: action %q, want closed", rep.Action)
	}
	pr, _ := g.repo.PullRequest(rep.PR.Number)
	if pr.GetState() != "closed" || pr.GetMerged() {
		t.Errorf("pull request is %s (merged %v), want closed unmerged", pr.GetState(), pr.GetMerged())
	}
	if c := g.repo.Comments(rep.PR.Number); len(c) != 1 || !strings.Contains(c[0], "upgraded on main already") {
		t.Errorf("comments = %q, want one saying it is obsolete", c)
	}
	if got := events(t, g.st, g.project.ID, dependents.EventClosed); len(got) != 1 {
		t.Errorf("closed events = %q, want one", got)
	}
}

// TestGitHubMergeIfGreen: MergeIfGreen merges the open pull request once
// its head's status is green, leaves it open while pending or red (one red
// event), and does nothing when no pull request is open.
func TestGitHubMergeIfGreen(t *testing.T) {
	ctx := context.Background()
	px := proxytest.New(t, thirdparty("v1.0.0"), thirdparty("v1.1.0"))
	srv := githubtest.New(t)
	g := newGitHubDay(t, srv, px, "merger")

	if merged, err := g.day.MergeIfGreen(ctx, g.project.Name); err != nil || merged {
		t.Fatalf("nothing open: MergeIfGreen = %v, %v; want false, nil", merged, err)
	}
	rep := g.run(t)
	if rep.Action != "opened" || rep.Merged {
		t.Fatalf("run: action %q, merged %v; want opened, not merged", rep.Action, rep.Merged)
	}
	number, head := rep.PR.Number, g.repo.Head(dependents.Branch)

	steps := []struct {
		status     string // set on the head first; "" sets none
		wantMerged bool
		wantState  string // of the pull request in the fake
		wantRed    int    // red events so far
	}{
		{"", false, "open", 0},
		{"pending", false, "open", 0},
		{"failure", false, "open", 1},
		{"failure", false, "open", 1},
		{"success", true, "closed", 1},
	}
	for _, s := range steps {
		t.Run("status "+s.status, func(t *testing.T) {
			if s.status != "" {
				g.setStatus(t, head, s.status)
			}
			merged, err := g.day.MergeIfGreen(ctx, g.project.Name)
			if err != nil || merged != s.wantMerged {
				t.Fatalf("MergeIfGreen = %v, %v; want %v, nil", merged, err, s.wantMerged)
			}
			pr, _ := g.repo.PullRequest(number)
			if pr.GetState() != s.wantState || pr.GetMerged() != s.wantMerged {
				t.Errorf("pull request #%d is %s (merged %v), want %s (merged %v)", number, pr.GetState(), pr.GetMerged(), s.wantState, s.wantMerged)
			}
			if got := events(t, g.st, g.project.ID, dependents.EventRed); len(got) != s.wantRed {
				t.Errorf("red events = %q, want %d", got, s.wantRed)
			}
		})
	}
	if gomod, _ := g.repo.File("main", "go.mod"); !strings.Contains(gomod, "example.com/thirdparty v1.1.0") {
		t.Errorf("go.mod on main after the merge:\n%s", gomod)
	}
	prs, _ := g.st.DependencyPRs(ctx, g.project.ID)
	if len(prs) != 1 || prs[0].State != "merged" || prs[0].Checks != "success" {
		t.Errorf("stored pull requests = %+v, want #%d merged, success", prs, number)
	}
	if got := events(t, g.st, g.project.ID, dependents.EventMerged); len(got) != 1 {
		t.Errorf("merged events = %q, want one", got)
	}
	if merged, err := g.day.MergeIfGreen(ctx, g.project.Name); err != nil || merged {
		t.Errorf("after the merge: MergeIfGreen = %v, %v; want false, nil", merged, err)
	}
}
