package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers/github/githubtest"
)

// TestServeGitHubProject: serve's wiring opens a GitHub project with the
// configured token and base URL, and the controller tags its head through
// the GitHub API (here the reusable fake of it).
func TestServeGitHubProject(t *testing.T) {
	ctx := context.Background()
	gh := githubtest.New(t, githubtest.WithToken("secret-token"))
	repo := gh.AddRepo("octo-org", "api", "main")
	head := repo.Commit("main", "first", map[string]string{".mainline.yaml": "builds: []\n"})

	dir := t.TempDir()
	s := settings{DataDir: dir, DatabaseURL: "sqlite://" + filepath.Join(dir, "m.db"),
		GitHubToken: "secret-token", GitHubURL: gh.BaseURL()}
	srv, err := newServer(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)), controller.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	p, err := srv.store.CreateProject(ctx, store.Project{Name: "octo-org/api", SCM: "github", Location: "octo-org/api"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.controller.Reconcile(ctx, p.ID); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if got := repo.Ref("refs/tags/0.0.1"); got == "" {
		t.Fatalf("no tag 0.0.1 on GitHub")
	}
	tags, err := srv.store.Tags(ctx, p.ID)
	if err != nil || len(tags) != 1 || tags[0].SHA != head {
		t.Errorf("stored tags = %+v, %v; want 0.0.1 on %s", tags, err, head)
	}
	// The same repository value is reused across runs (its ETag cache and
	// rate-limit state live in it).
	a, _ := srv.scm(ctx, p)
	b, _ := srv.scm(ctx, p)
	if a != b {
		t.Error("the GitHub repository was opened twice")
	}
}
