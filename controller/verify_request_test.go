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

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

const requestSuite = `base_url: ${SERVICE_URL}
steps:
  - name: status
    request: { path: /status }
    expect: { status: 200, json: { "$.ok": true } }
`

// TestVerifyRequest: a verify_requested event, written to the store as
// any replica's dashboard writes it, makes the leader run the suite
// against the desired version once more, once; a failing re-run rolls
// back as a failed rollout verification does.
func TestVerifyRequest(t *testing.T) {
	ctx := context.Background()
	var ok atomic.Bool
	ok.Store(true)
	var hits atomic.Int64
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintf(w, `{"ok": %v}`, ok.Load())
	}))
	defer svc.Close()

	st := storetest.SQLite(t)
	repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": scheduledConfig, "verify.yaml": requestSuite})
	p := addProject(t, st, "rerun", repo.Bare)
	cluster := newMemCluster(svc.URL)
	c := &controller.Controller{
		Store: st,
		Providers: controller.Providers{
			SCM:     func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
			Builder: &fakeBuilder{},
			Cluster: cluster,
		},
		Resync: time.Hour,
	}
	runController(t, c)

	runs := func(match func(store.VerifyRun) bool) []store.VerifyRun {
		all, err := st.VerifyRuns(ctx, p.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []store.VerifyRun
		for _, r := range all {
			if match(r) {
				out = append(out, r)
			}
		}
		return out
	}
	rolloutPassed := func(v string) func() bool {
		return func() bool {
			return len(runs(func(r store.VerifyRun) bool {
				return r.Version == v && r.Trigger == controller.TriggerRollout && r.Status == "passed"
			})) == 1
		}
	}
	eventually(t, "0.0.1 verified", rolloutPassed("0.0.1"))
	repo.Commit("second", nil)
	c.Wake(p.ID)
	eventually(t, "0.0.2 verified", rolloutPassed("0.0.2"))

	// request asks for a re-run as the dashboard of a replica whose clock
	// is skew ahead does, and returns the trigger of the run that answers
	// it.
	request := func(who string, skew time.Duration) string {
		t.Helper()
		e, err := st.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: controller.EventVerifyRequested,
			Message: controller.VerifyRequestMessage("0.0.2", who), At: time.Now().Add(skew).UTC()})
		if err != nil {
			t.Fatal(err)
		}
		c.Wake(p.ID)
		return fmt.Sprintf("request:%s #%d", who, e.ID)
	}
	// settle waits for two more reconciles of the project to finish.
	settle := func() {
		t.Helper()
		for range 2 {
			mark := time.Now()
			c.Wake(p.ID)
			eventually(t, "a reconcile after the wake-up", func() bool {
				s, ok := c.Status(p.ID)
				return ok && s.At.After(mark)
			})
		}
	}

	t.Run("passing re-run", func(t *testing.T) {
		before := hits.Load()
		// Asked on a replica an hour ahead: every run looks older than
		// the request, and still it runs once.
		trigger := request("user:alice", time.Hour)
		eventually(t, "the re-run", func() bool {
			evs, _ := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "verify_passed", Limit: 1})
			return len(evs) == 1
		})
		settle()
		got := runs(func(r store.VerifyRun) bool { return r.Trigger == trigger })
		if len(got) != 1 || got[0].Status != "passed" || got[0].Version != "0.0.2" {
			t.Fatalf("runs for %q = %s, want one passed run of 0.0.2", trigger, describe(got))
		}
		if n := hits.Load() - before; n != 1 {
			t.Errorf("the service was asked %d times, want once", n)
		}
		evs, _ := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "verify_passed", Limit: 5})
		if want := "0.0.2 verified again (requested by user:alice): 1 steps passed"; len(evs) != 1 || evs[0].Message != want {
			t.Errorf("verify_passed events = %+v, want one %q", evs, want)
		}
		if d, _ := st.Desired(ctx, p.ID, "api"); d.Version != "0.0.2" {
			t.Errorf("desired = %s, want 0.0.2 kept", d.Version)
		}
	})

	t.Run("failing re-run rolls back", func(t *testing.T) {
		ok.Store(false)
		trigger := request("token:bob", 0)
		eventually(t, "the rollback to 0.0.1", func() bool {
			d, _ := st.Desired(ctx, p.ID, "api")
			v := cluster.versions()
			return d.Version == "0.0.1" && d.SetBy == "rollback" && v["0.0.1"] == 1 && len(v) == 1
		})
		settle()
		got := runs(func(r store.VerifyRun) bool { return r.Trigger == trigger })
		if len(got) != 1 || got[0].Status != "failed" || got[0].Version != "0.0.2" {
			t.Fatalf("runs for %q = %s, want one failed run of 0.0.2", trigger, describe(got))
		}
		evs, err := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "rolled_back", Limit: 5})
		if err != nil || len(evs) != 1 {
			t.Fatalf("rolled_back events = %v, %v", evs, err)
		}
		want := "0.0.2 failed verification: step 'status' failed: json $.ok = false, want true (re-run requested by token:bob); rolled back to 0.0.1"
		if evs[0].Message != want {
			t.Errorf("rollback event = %q, want %q", evs[0].Message, want)
		}
		rejected, _ := st.Rejections(ctx, p.ID)
		if len(rejected) != 1 || rejected[0].Version != "0.0.2" {
			t.Errorf("rejections = %+v, want 0.0.2", rejected)
		}
		// The request is answered: the version rolled back to is not run
		// for it.
		if n := len(runs(func(r store.VerifyRun) bool { return strings.HasPrefix(r.Trigger, "request:") && r.Version == "0.0.1" })); n != 0 {
			t.Errorf("%d request runs of 0.0.1, want none", n)
		}
	})
}

// describe lists runs as "version status" without their reports.
func describe(runs []store.VerifyRun) string {
	var b strings.Builder
	for _, r := range runs {
		fmt.Fprintf(&b, "[%s %s] ", r.Version, r.Status)
	}
	return b.String()
}
