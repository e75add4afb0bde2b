package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
)

// TestCLIThroughAPI: with MAINLINE_URL and MAINLINE_TOKEN set, status and
// the actions go to a running server's JSON API, which records who acted
// (the token) and applies the change.
func TestCLIThroughAPI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := settings{DataDir: dir, DatabaseURL: "sqlite://" + filepath.Join(dir, "mainline.db"), Cluster: "docker"}
	srv, err := newServer(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)), controller.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	hs := httptest.NewServer(srv.handler)
	defer hs.Close()

	out, err := runCLI(t, dir, "token", "create", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "mlt_") {
			token = f
		}
	}
	if token == "" {
		t.Fatalf("no token in %q", out)
	}
	p, err := srv.store.CreateProject(ctx, store.Project{Name: "shop", SCM: "git", Location: dir})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := srv.store.AddTag(ctx, store.Tag{ProjectID: p.ID, Name: "0.0.1", SHA: strings.Repeat("a", 40), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := srv.store.PutBuild(ctx, store.Build{ProjectID: p.ID, Name: "api", Version: "0.0.1", Status: store.BuildSucceeded, Digest: "sha256:x", StartedAt: now}); err != nil {
		t.Fatal(err)
	}

	remote := func(token string, args ...string) (string, error) {
		env := map[string]string{"MAINLINE_URL": hs.URL, "MAINLINE_TOKEN": token, "MAINLINE_DATA_DIR": t.TempDir()}
		root := newRootCmd(func(k string) string { return env[k] })
		var o bytes.Buffer
		root.SetOut(&o)
		root.SetErr(io.Discard)
		root.SetArgs(args)
		err := root.ExecuteContext(ctx)
		return o.String(), err
	}
	if _, err := remote("mlt_wrong", "pause", "shop"); err == nil || strings.Contains(err.Error(), "mlt_wrong") {
		t.Errorf("pause with a bad token: %v, want refused without echoing the token", err)
	}
	if got, _ := srv.store.ProjectByName(ctx, "shop"); got.Paused {
		t.Fatal("a refused action changed the project")
	}
	if _, err := remote(token, "deploy", "shop", "0.0.1"); err != nil {
		t.Fatalf("deploy through the API: %v", err)
	}
	if got, _ := srv.store.ProjectByName(ctx, "shop"); got.Pinned != "0.0.1" {
		t.Errorf("pinned = %q after deploy through the API, want 0.0.1", got.Pinned)
	}
	if _, err := remote(token, "pause", "shop"); err != nil {
		t.Fatalf("pause through the API: %v", err)
	}
	out, err = remote(token, "status")
	if err != nil {
		t.Fatalf("status through the API: %v", err)
	}
	if !strings.Contains(out, "shop (git ") || !strings.Contains(out, "[paused]") || !strings.Contains(out, "[pinned 0.0.1]") {
		t.Errorf("status through the API:\n%s", out)
	}
	evs, err := srv.store.Events(ctx, store.EventQuery{ProjectID: p.ID, Limit: 5})
	if err != nil || len(evs) == 0 || !strings.Contains(evs[0].Message, "token:laptop") {
		t.Errorf("latest event %+v (%v), want it to name token:laptop", evs, err)
	}
}
