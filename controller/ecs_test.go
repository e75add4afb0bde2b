package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/ecs"
	"github.com/mainline-cd/mainline/providers/ecs/ecstest"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

const ecsConfig = `builds:
  - name: api
    dockerfile: Dockerfile
    instances: 3
    rollout: { max_surge: 1, max_unavailable: 1 }
`

// TestECSRollout: on a cluster that rolls out by itself (Amazon ECS, here
// its fake driven through the real SDK client), the scale stage hands the
// rollout to it, records what it reports as the last state, and rolls back
// in the desired state when ECS's circuit breaker fails a deployment.
func TestECSRollout(t *testing.T) {
	ctx := context.Background()
	fake := ecstest.NewServer(t)
	cluster, err := ecs.New(ecs.Config{
		Client:      fake.Client(3),
		Cluster:     ecstest.ClusterName,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReReadDelay: time.Millisecond,
		HealthCheck: []string{"CMD-SHELL", "true"},
		Subnets:     []string{"subnet-1"},
		Endpoint:    func(project, build string) string { return "https://" + build + ".example.test" },
	})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.SQLite(t)
	repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": ecsConfig})
	p := addProject(t, st, "shop", repo.Bare)
	c := &controller.Controller{Store: st, Resync: time.Hour, Providers: controller.Providers{
		SCM:     func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
		Builder: &fakeBuilder{},
		Cluster: cluster,
	}}
	reconcileUntil := func(what string, cond func() bool) {
		t.Helper()
		for i := 0; !cond(); i++ {
			if i == 500 {
				evs, _ := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Limit: 8})
				for _, e := range evs {
					t.Logf("event %s: %s", e.Kind, e.Message)
				}
				for _, td := range fake.TaskDefinitions() {
					t.Logf("task definition %s image %s", td.ARN, td.Image)
				}
				runs, _ := st.VerifyRuns(ctx, p.ID, 10)
				for _, r := range runs {
					t.Logf("run %s %s %s %v", r.Version, r.Trigger, r.Status, r.FinishedAt)
				}
				s, _ := c.Status(p.ID)
				t.Fatalf("not reached after 500 reconciles: %s (status %+v)", what, s)
			}
			if _, err := c.Reconcile(ctx, p.ID); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
		}
	}
	last := func(v string, n int) func() bool {
		return func() bool {
			l, err := st.Last(ctx, p.ID, "api")
			return err == nil && len(l.Versions) == 1 && l.Versions[v] == n
		}
	}
	completed := func() bool {
		evs, _ := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "rollout_completed", Limit: 5})
		return len(evs) == 1
	}
	reconcileUntil("0.0.1 ×3 on ECS, rollout completed", func() bool { return last("0.0.1", 3)() && completed() })

	// The second build's image is 0.0.2's; ECS fails its deployment.
	fake.FailImage(fmt.Sprintf("shop/api@sha256:%064x", 2))
	repo.Commit("broken", nil)
	reconcileUntil("the rollback of 0.0.2", func() bool {
		d, _ := st.Desired(ctx, p.ID, "api")
		return d.Version == "0.0.1" && d.SetBy == "rollback"
	})
	reconcileUntil("0.0.1 ×3 again", last("0.0.1", 3))
	evs, err := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "rolled_back", Limit: 5})
	if err != nil || len(evs) != 1 {
		t.Fatalf("rolled_back events = %v, %v", evs, err)
	}
	t.Logf("event: %s", evs[0].Message)
	rej, _ := st.Rejections(ctx, p.ID)
	if len(rej) != 1 || rej[0].Version != "0.0.2" {
		t.Errorf("rejections = %+v, want 0.0.2", rej)
	}
}
