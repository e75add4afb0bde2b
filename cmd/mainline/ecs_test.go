package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/ecs/ecstest"
)

// digestBuilder stands in for the Docker builder: it "pushes" every image
// at once with a digest made from its name.
type digestBuilder struct{}

func (digestBuilder) Build(_ context.Context, _ providers.Source, spec providers.BuildSpec, _ io.Writer) (string, error) {
	return fmt.Sprintf("sha256:%064x", len(spec.Image)), nil
}

// TestServeOnECS: with MAINLINE_CLUSTER=ecs, serve's wiring loads the
// standard AWS configuration (here pointed at the ECS fake through
// AWS_ENDPOINT_URL_ECS) and rolls a project out on ECS.
func TestServeOnECS(t *testing.T) {
	ctx := context.Background()
	fake := ecstest.NewServer(t)
	t.Setenv("AWS_ENDPOINT_URL_ECS", fake.URL)
	t.Setenv("AWS_REGION", ecstest.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRETTEST")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	dir := t.TempDir()
	env := map[string]string{
		"MAINLINE_DATA_DIR":     dir,
		"MAINLINE_CLUSTER":      "ecs",
		"MAINLINE_ECS_CLUSTER":  ecstest.ClusterName,
		"MAINLINE_ECS_SUBNETS":  "subnet-1, subnet-2",
		"MAINLINE_ECS_ENDPOINT": "https://{build}.{project}.example.test",
		"MAINLINE_REGISTRY":     "registry.example.test/team",
	}
	s, err := loadSettings(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, closeProviders, err := ecsProviders(ctx, &s, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer closeProviders()
	p.Builder = digestBuilder{}
	srv, err := newServer(ctx, s, logger, p)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()

	bare := filepath.Join(dir, "shop.git")
	clone := filepath.Join(dir, "shop")
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", bare},
		{"clone", "-q", bare, clone},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(clone, ".mainline.yaml"), []byte("builds:\n  - name: api\n    dockerfile: Dockerfile\n    instances: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", "first"}, {"push", "-q", "origin", "HEAD:main"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = clone
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	proj, err := srv.store.CreateProject(ctx, store.Project{Name: "shop", SCM: "git", Location: bare})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i == 300 {
			t.Fatal("0.0.1 ×2 never ran on ECS")
		}
		if _, err := srv.controller.Reconcile(ctx, proj.ID); err != nil {
			t.Fatal(err)
		}
		if l, err := srv.store.Last(ctx, proj.ID, "api"); err == nil && l.Versions["0.0.1"] == 2 {
			break
		}
	}
	svc, ok := fake.Service("shop-api")
	if !ok {
		t.Fatal("no ECS service shop-api")
	}
	t.Logf("ECS service: %+v", svc)
	tds := fake.TaskDefinitions()
	if len(tds) != 1 || tds[0].Image != fmt.Sprintf("registry.example.test/team/shop/api@sha256:%064x", len("registry.example.test/team/shop/api:0.0.1")) {
		t.Errorf("task definitions = %+v, want one of the pushed image by digest", tds)
	}
	if u, err := srv.controller.Providers.Cluster.Endpoint(ctx, "shop", "api"); err != nil || u != "https://api.shop.example.test" {
		t.Errorf("endpoint = %q, %v", u, err)
	}
}
