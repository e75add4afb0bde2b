package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

const scheduledConfig = `builds:
  - name: api
    dockerfile: Dockerfile
verify: verify.yaml
`

const scheduledSuite = `base_url: ${SERVICE_URL}
schedule: "*/5 * * * *"
failure_budget: 2
steps:
  - name: status
    request: { path: /status }
    expect: { status: 200, json: { "$.ok": true } }
`

// TestScheduledVerification: a suite with a schedule runs between
// rollouts; each run is stored; a failure alerts, and a failure budget of
// them in a row rolls back to the previous verified version.
func TestScheduledVerification(t *testing.T) {
	ctx := context.Background()
	var ok atomic.Bool
	ok.Store(true)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"ok": %v}`, ok.Load())
	}))
	defer svc.Close()

	st := storetest.SQLite(t)
	repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": scheduledConfig, "verify.yaml": scheduledSuite})
	p := addProject(t, st, "sched", repo.Bare)
	cluster := newMemCluster(svc.URL)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 28, 12, 1, 0, 0, time.UTC))
	c := &controller.Controller{
		Store: st,
		Providers: controller.Providers{
			SCM:     func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
			Builder: &fakeBuilder{},
			Cluster: cluster,
		},
		Resync:        time.Hour,
		ScheduleClock: clock,
	}
	runController(t, c)
	verified := func(v string) func() bool {
		return func() bool {
			runs, _ := st.VerifyRuns(ctx, p.ID, 20)
			for _, r := range runs {
				if r.Version == v && r.Trigger == controller.TriggerRollout && r.Status == "passed" {
					return true
				}
			}
			return false
		}
	}
	eventually(t, "0.0.1 verified", verified("0.0.1"))
	repo.Commit("second", nil)
	c.Wake(p.ID)
	eventually(t, "0.0.2 verified", verified("0.0.2"))

	scheduled := func(n int) func() bool {
		return func() bool {
			runs, _ := st.VerifyRuns(ctx, p.ID, 50)
			got := 0
			for _, r := range runs {
				if r.Trigger == controller.TriggerSchedule && r.Status != "running" {
					got++
				}
			}
			return got >= n
		}
	}
	// A passing scheduled run is stored and changes nothing.
	fire(t, clock)
	eventually(t, "a scheduled run", scheduled(1))

	ok.Store(false)
	fire(t, clock)
	eventually(t, "a failing scheduled run", scheduled(2))
	eventually(t, "a verify_failed event", func() bool {
		evs, _ := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "verify_failed", Limit: 5})
		return len(evs) == 1 && strings.Contains(evs[0].Message, "(1/2 failed runs in a row)")
	})
	if d, _ := st.Desired(ctx, p.ID, "api"); d.Version != "0.0.2" {
		t.Fatalf("desired after one failure = %s, want 0.0.2 kept", d.Version)
	}

	fire(t, clock)
	eventually(t, "the rollback to 0.0.1", func() bool {
		d, _ := st.Desired(ctx, p.ID, "api")
		return d.Version == "0.0.1" && d.SetBy == "rollback" && cluster.versions()["0.0.1"] == 1 && len(cluster.versions()) == 1
	})
	evs, err := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "rolled_back", Limit: 5})
	if err != nil || len(evs) != 1 {
		t.Fatalf("rolled_back events = %v, %v", evs, err)
	}
	if want := "0.0.2 failed scheduled verification 2 times in a row: step 'status' failed: json $.ok = false, want true; rolled back to 0.0.1"; evs[0].Message != want {
		t.Errorf("rollback event = %q, want %q", evs[0].Message, want)
	}
}

// fire advances the schedule clock past the next five-minute boundary once
// the scheduler is waiting on it.
func fire(t *testing.T, clock *clockwork.FakeClock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("scheduler never waited on the clock: %v", err)
	}
	clock.Advance(5 * time.Minute)
}
