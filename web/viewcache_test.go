package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
)

// TestOverviewShowsChangesAtOnce renders the overview, changes what it
// shows in each way the live stream notices (an event, a project's
// flags, what the controller found), and checks that the very next
// render shows it: the overview's cache of its last read must not hide a
// change the stream has announced.
func TestOverviewShowsChangesAtOnce(t *testing.T) {
	e := newEnv(t, true)
	ts := e.server()
	c := e.client()
	ctx := context.Background()
	id := e.ids["octo-org/orders"]
	statusOf := func(build string) row {
		t.Helper()
		for _, r := range overviewRowsOf(t, e.get(c, ts.URL+"/", http.StatusOK)) {
			if r.project == "octo-org/orders" && r.build == build {
				return r
			}
		}
		t.Fatalf("no row for octo-org/orders %s", build)
		return row{}
	}
	if got := statusOf("api"); got.status != "in sync" {
		t.Fatalf("before: api is %q, want in sync", got.status)
	}

	tests := []struct {
		name   string
		change func(t *testing.T)
		want   row
	}{
		{"desired state with its event", func(t *testing.T) {
			d, err := e.st.Desired(ctx, id, "api")
			if err != nil {
				t.Fatal(err)
			}
			d.Instances++
			if _, err := e.st.SetDesired(ctx, d); err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.AddEvent(ctx, store.Event{ProjectID: id, Kind: "desired_changed", Message: "more instances", At: now}); err != nil {
				t.Fatal(err)
			}
		}, row{status: "rolling"}},
		{"controller status", func(t *testing.T) {
			e.ctrl.set(id, controller.ProjectStatus{Stage: "sync", Result: "error", Reason: "git fetch: connection refused"})
		}, row{status: "failed", why: "sync: git fetch: connection refused"}},
		{"paused, no event", func(t *testing.T) {
			p, err := e.st.Project(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			p.Paused = true
			if err := e.st.UpdateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
		}, row{status: "paused", why: "paused: Mainline keeps the desired state until resumed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change(t)
			got := statusOf("api")
			if got.status != tt.want.status || (tt.want.why != "" && got.why != tt.want.why) {
				t.Errorf("after the change: got %q (%q), want %q (%q)", got.status, got.why, tt.want.status, tt.want.why)
			}
		})
	}
}
