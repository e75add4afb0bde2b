package controller_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

// slowBuilder writes a line of log, then waits for release before it
// finishes.
type slowBuilder struct{ release chan struct{} }

func (b *slowBuilder) Build(ctx context.Context, _ providers.Source, spec providers.BuildSpec, log io.Writer) (string, error) {
	fmt.Fprintf(log, "step 1/2: compiling %s\n", spec.Image)
	select {
	case <-b.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	fmt.Fprintln(log, "step 2/2: done")
	return "sha256:" + strings.Repeat("ab", 32), nil
}

// TestBuildLogWhileRunning: the log of a running build reaches the store
// while it runs, so the dashboard can show it live; the final record keeps
// the whole log.
func TestBuildLogWhileRunning(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": minimalConfig})
	p := addProject(t, st, "slow", repo.Bare)
	b := &slowBuilder{release: make(chan struct{})}
	c := &controller.Controller{Store: st, Resync: time.Hour, Providers: controller.Providers{
		SCM:     func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
		Builder: b,
		Cluster: newMemCluster("http://127.0.0.1:1"),
	}}
	runController(t, c)
	eventually(t, "the running build's log in the store", func() bool {
		rec, err := st.Build(ctx, p.ID, "api", "0.0.1")
		return err == nil && rec.Status == store.BuildRunning && strings.Contains(rec.Log, "step 1/2")
	})
	close(b.release)
	eventually(t, "the build to finish", func() bool {
		rec, err := st.Build(ctx, p.ID, "api", "0.0.1")
		return err == nil && rec.Status == store.BuildSucceeded && strings.Contains(rec.Log, "step 2/2: done") && strings.Contains(rec.Log, "step 1/2")
	})
}

// laterRegistry has an image only once it was "pushed" by someone else.
type laterRegistry struct {
	mu     sync.Mutex
	pushed map[string]string
	asked  []string
}

func (r *laterRegistry) Digest(_ context.Context, image string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, image)
	if d, ok := r.pushed[image]; ok {
		return d, nil
	}
	return "", fmt.Errorf("%s: %w", image, providers.ErrNotFound)
}

// TestExternalBuild: a build with `image:` is built elsewhere; the stage
// waits for the tag to appear in the registry, then records its digest.
func TestExternalBuild(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": "builds:\n  - name: worker\n    image: registry.example.test/team/worker\n"})
	p := addProject(t, st, "ext", repo.Bare)
	reg := &laterRegistry{pushed: map[string]string{}}
	c := &controller.Controller{Store: st, Resync: time.Hour, Providers: controller.Providers{
		SCM:      func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
		Registry: reg,
		Cluster:  newMemCluster("http://127.0.0.1:1"),
	}}
	out, err := c.Reconcile(ctx, p.ID)
	if err != nil || out.Result != controller.Waiting || !strings.Contains(out.Reason, "registry.example.test/team/worker:0.0.1") {
		t.Fatalf("Reconcile = %+v, %v; want waiting for the external image", out, err)
	}
	if rec, err := st.Build(ctx, p.ID, "worker", "0.0.1"); err != nil || rec.Status != store.BuildPending {
		t.Fatalf("build record = %+v, %v; want pending", rec, err)
	}
	reg.mu.Lock()
	reg.pushed["registry.example.test/team/worker:0.0.1"] = "sha256:" + strings.Repeat("cd", 32)
	reg.mu.Unlock()
	if _, err := c.Reconcile(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Build(ctx, p.ID, "worker", "0.0.1")
	if err != nil || rec.Status != store.BuildSucceeded || rec.Digest != "sha256:"+strings.Repeat("cd", 32) {
		t.Errorf("build record = %+v, %v; want succeeded with the registry's digest", rec, err)
	}
	if d, err := st.Desired(ctx, p.ID, "worker"); err != nil || d.Version != "0.0.1" {
		t.Errorf("desired = %+v, %v; want 0.0.1", d, err)
	}
}
