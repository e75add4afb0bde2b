package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers/github/githubtest"
)

// TestServeMergesDependencyPROnStatusWebhook: on the leader, a signed
// status webhook for a watched repository whose dependency pull request
// turned green merges that pull request at once, without waiting for the
// scheduler's refresh.
func TestServeMergesDependencyPROnStatusWebhook(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := githubtest.New(t, githubtest.WithToken("secret-token"))
	client := fake.Client().WithAuthToken("secret-token")
	repo := fake.AddRepo("octo-org", "api", "main")
	repo.Commit("main", "first", map[string]string{
		".mainline.yaml": "builds: []\ndependencies: { automerge: true }\n",
		"go.mod":         "module example.com/api\n\ngo 1.22\n",
	})
	head := repo.Commit(dependents.Branch, "Upgrade 1 dependency", map[string]string{"go.mod": "module example.com/api\n\ngo 1.23\n"})
	pr, _, err := client.PullRequests.Create(ctx, "octo-org", "api", &gh.NewPullRequest{Title: gh.String("Upgrade 1 dependency"), Head: gh.String(dependents.Branch), Base: gh.String("main")})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	s := settings{DataDir: dir, DatabaseURL: "sqlite://" + filepath.Join(dir, "m.db"), GoProxy: "off",
		LeaseTTL: 10 * time.Second, Resync: time.Hour, WebhookSecrets: []string{"hook-secret"},
		GitHubToken: "secret-token", GitHubURL: fake.BaseURL()}
	srv, err := newServer(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)), controller.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	p, err := srv.store.CreateProject(ctx, store.Project{Name: "octo-org/api", SCM: "github", Location: "octo-org/api"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.store.PutDependencyPR(ctx, store.DependencyPR{ProjectID: p.ID, Number: pr.GetNumber(), Branch: dependents.Branch, Title: pr.GetTitle(), State: "open", Checks: "pending", UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv.routes())
	defer web.Close()
	done := make(chan error, 1)
	go func() { done <- srv.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitFor(t, 30*time.Second, "leadership with dependents day", func() bool {
		srv.depsMu.Lock()
		defer srv.depsMu.Unlock()
		return srv.deps != nil
	})

	deliver := func(id string) {
		t.Helper()
		payload := statusPayload(t, "octo-org/api", head)
		req, _ := http.NewRequest(http.MethodPost, web.URL+"/webhooks/github", bytes.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "status")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", signBody([]byte("hook-secret"), payload))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook answered %d, want 202", resp.StatusCode)
		}
	}
	merged := func() bool {
		got, _ := repo.PullRequest(pr.GetNumber())
		return got.GetMerged()
	}

	// Red: the delivery is handled, the pull request stays open.
	setStatus(t, client, head, "failure")
	deliver("status-red")
	waitFor(t, 30*time.Second, "the red delivery processed", func() bool {
		prs, _ := srv.store.DependencyPRs(ctx, p.ID)
		return len(prs) == 1 && prs[0].Checks == "failure"
	})
	if merged() {
		t.Fatal("a red pull request was merged")
	}

	setStatus(t, client, head, "success")
	deliver("status-green")
	waitFor(t, 30*time.Second, "the dependency pull request merged", merged)
	prs, _ := srv.store.DependencyPRs(ctx, p.ID)
	if len(prs) != 1 || prs[0].State != "merged" {
		t.Errorf("stored pull requests = %+v, want #%d merged", prs, pr.GetNumber())
	}
	if gomod, _ := repo.File("main", "go.mod"); gomod != "module example.com/api\n\ngo 1.23\n" {
		t.Errorf("go.mod on main after the merge:\n%s", gomod)
	}
}

func setStatus(t *testing.T, client *gh.Client, sha, state string) {
	t.Helper()
	_, _, err := client.Repositories.CreateStatus(context.Background(), "octo-org", "api", sha, &gh.RepoStatus{State: gh.String(state), Context: gh.String("ci/test")})
	if err != nil {
		t.Fatal(err)
	}
}

// statusPayload is the real status webhook fixture, retargeted at
// repository fullName and commit sha.
func statusPayload(t *testing.T, fullName, sha string) []byte {
	t.Helper()
	data, err := os.ReadFile("../../../shared/fixtures/github-webhooks/status/payload.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["sha"] = sha
	m["state"] = "success"
	repo := m["repository"].(map[string]any)
	repo["full_name"] = fullName
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
