package notify_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/github"
	"github.com/mainline-cd/mainline/providers/github/githubtest"
	"github.com/mainline-cd/mainline/providers/gitlocal"
	"github.com/mainline-cd/mainline/providers/notify"
)

// deployRecord is a deployment as the repository recorded it.
type deployRecord struct {
	Ref, Environment string
	States           []string // oldest first
	EnvironmentURLs  []string // of each status, oldest first
}

// repoUnderTest is an SCM with deployments and statuses, and the means to
// read back what it recorded.
type repoUnderTest struct {
	SCM         providers.SCM
	SHAs        []string // commits to deploy, one per rollout
	Deployments func(t *testing.T) []deployRecord
	// Status returns the latest state and target URL of a commit status
	// context on sha, "" when unset.
	Status func(t *testing.T, sha, context string) (state, targetURL string)
}

// testGitHubNotifier sends what the controller reports over a project's
// life — a good rollout, a failed one that is rolled back, and a rollout
// finishing after a restart, which the notifier never saw start — and
// checks the deployments and commit statuses the repository recorded.
func testGitHubNotifier(t *testing.T, r repoUnderTest) {
	ctx := context.Background()
	g := &notify.GitHub{SCM: r.SCM}
	send := func(g *notify.GitHub, kind, version, sha string) {
		t.Helper()
		n := note(kind, fmt.Sprintf("orders %s: %s", version, kind))
		n.Version, n.SHA = version, sha
		if err := g.Notify(ctx, n); err != nil {
			t.Fatalf("Notify(%s %s): %v", kind, version, err)
		}
	}
	checkStatus := func(sha, want string) {
		t.Helper()
		state, target := r.Status(t, sha, "mainline/deploy")
		if state != want || target != "http://127.0.0.1:8080/projects/orders" {
			t.Errorf("mainline/deploy on %.7s = %q → %q, want %q → the dashboard", sha, state, target, want)
		}
	}

	send(g, "deploy_started", "0.0.2", r.SHAs[0])
	checkStatus(r.SHAs[0], "pending")
	send(g, "build_succeeded", "0.0.2", r.SHAs[0]) // not this notifier's business
	send(g, "deploy_finished", "0.0.2", r.SHAs[0])
	checkStatus(r.SHAs[0], "success")

	send(g, "deploy_started", "0.0.3", r.SHAs[1])
	send(g, "verify_failed", "0.0.3", r.SHAs[1])
	send(g, "rolled_back", "0.0.3", r.SHAs[1])
	checkStatus(r.SHAs[1], "failure")

	restarted := &notify.GitHub{SCM: r.SCM}
	send(restarted, "deploy_finished", "0.0.4", r.SHAs[2])
	checkStatus(r.SHAs[2], "success")

	env := "http://127.0.0.1:9001"
	want := []deployRecord{
		{Ref: r.SHAs[0], Environment: "production", States: []string{"in_progress", "success"}, EnvironmentURLs: []string{env, env}},
		{Ref: r.SHAs[1], Environment: "production", States: []string{"in_progress", "failure"}, EnvironmentURLs: []string{env, env}},
		{Ref: r.SHAs[2], Environment: "production", States: []string{"success"}, EnvironmentURLs: []string{env}},
	}
	got := r.Deployments(t)
	if len(got) != len(want) {
		t.Fatalf("got %d deployments %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if gd, wd := got[i], want[i]; gd.Ref != wd.Ref || gd.Environment != wd.Environment || !slices.Equal(gd.States, wd.States) || !slices.Equal(gd.EnvironmentURLs, wd.EnvironmentURLs) {
			t.Errorf("deployment %d = %+v, want %+v", i, gd, wd)
		}
	}
}

func TestGitHubOnGitHub(t *testing.T) {
	srv := githubtest.New(t)
	fake := srv.AddRepo("acme", "orders", "main")
	var shas []string
	for i := range 3 {
		shas = append(shas, fake.Commit("main", fmt.Sprintf("change %d", i), map[string]string{"README.md": fmt.Sprint(i)}))
	}
	api := srv.Client()
	testGitHubNotifier(t, repoUnderTest{
		SCM:  github.New(srv.Client(), "acme", "orders"),
		SHAs: shas,
		Deployments: func(t *testing.T) []deployRecord {
			ctx := context.Background()
			ds, _, err := api.Repositories.ListDeployments(ctx, "acme", "orders", nil)
			if err != nil {
				t.Fatal(err)
			}
			slices.Reverse(ds) // oldest first
			var out []deployRecord
			for _, d := range ds {
				sts, _, err := api.Repositories.ListDeploymentStatuses(ctx, "acme", "orders", d.GetID(), nil)
				if err != nil {
					t.Fatal(err)
				}
				slices.Reverse(sts)
				rec := deployRecord{Ref: d.GetRef(), Environment: d.GetEnvironment()}
				for _, s := range sts {
					rec.States = append(rec.States, s.GetState())
					rec.EnvironmentURLs = append(rec.EnvironmentURLs, s.GetEnvironmentURL())
				}
				out = append(out, rec)
			}
			return out
		},
		Status: func(t *testing.T, sha, context string) (string, string) {
			var last gh.RepoStatus
			for _, s := range fake.Statuses(sha) {
				if s.GetContext() == context {
					last = s
				}
			}
			return last.GetState(), last.GetTargetURL()
		},
	})
}

func TestGitHubOnGitLocal(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@localhost",
			"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@localhost",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	var shas []string
	for i := range 3 {
		git("commit", "-q", "--allow-empty", "-m", fmt.Sprintf("change %d", i))
		shas = append(shas, git("rev-parse", "HEAD"))
	}
	repo, err := gitlocal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	testGitHubNotifier(t, repoUnderTest{
		SCM:  repo,
		SHAs: shas,
		Deployments: func(t *testing.T) []deployRecord {
			var out []deployRecord
			for id := int64(1); ; id++ {
				d, err := repo.Deployment(context.Background(), id)
				if err != nil {
					return out // ids run from 1 with no gaps
				}
				rec := deployRecord{Ref: d.Ref, Environment: d.Environment}
				for _, s := range d.Statuses {
					rec.States = append(rec.States, s.State)
					rec.EnvironmentURLs = append(rec.EnvironmentURLs, s.EnvironmentURL)
				}
				out = append(out, rec)
			}
		},
		Status: func(t *testing.T, sha, context string) (string, string) {
			sts, err := repo.CommitStatuses(t.Context(), sha)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sts {
				if s.Context == context {
					return string(s.State), s.TargetURL
				}
			}
			return "", ""
		},
	})
}

// TestGitHubRetryKeepsDeployment: when setting a status fails, trying the
// notification again sets it on the same deployment instead of making
// another.
func TestGitHubRetryKeepsDeployment(t *testing.T) {
	srv := githubtest.New(t)
	fake := srv.AddRepo("acme", "orders", "main")
	sha := fake.Commit("main", "initial", map[string]string{"README.md": "hi"})
	g := &notify.GitHub{
		Open: func(_ context.Context, project string) (providers.SCM, error) {
			return github.New(srv.Client(), "acme", project), nil
		},
		Environment: "prod-eu",
	}
	ctx := context.Background()
	n := note("deploy_started", "deploying")
	n.SHA = sha
	if err := g.Notify(ctx, n); err != nil {
		t.Fatalf("Notify(deploy_started): %v", err)
	}
	n.Kind = "deploy_finished"
	srv.FailNext(1, 502)
	if err := g.Notify(ctx, n); err == nil {
		t.Fatal("Notify(deploy_finished) succeeded while GitHub answered 502")
	}
	if err := g.Notify(ctx, n); err != nil {
		t.Fatalf("Notify(deploy_finished) again: %v", err)
	}
	ds, _, err := srv.Client().Repositories.ListDeployments(ctx, "acme", "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("got %d deployments, want 1", len(ds))
	}
	rec, _ := fake.Deployment(ds[0].GetID())
	if rec.Environment != "prod-eu" || !slices.Equal(rec.States, []string{"in_progress", "success"}) {
		t.Errorf("deployment = %+v, want environment prod-eu, states in_progress, success", rec)
	}
}

// plainSCM is an SCM with neither deployments nor statuses.
type plainSCM struct{ providers.SCM }

func TestGitHubWithoutAbilities(t *testing.T) {
	g := &notify.GitHub{SCM: plainSCM{}}
	if err := g.Notify(context.Background(), note("deploy_started", "")); err != nil {
		t.Errorf("Notify with an SCM that records nothing = %v, want nil", err)
	}
	if err := (&notify.GitHub{}).Notify(context.Background(), note("deploy_started", "")); err == nil {
		t.Error("Notify with neither SCM nor Open succeeded")
	}
}
