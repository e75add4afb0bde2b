package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/controller/store"
)

// TestRunningBuildRefreshes: the log page of a running build reloads
// itself (the controller stores the log every second while it builds), with
// or without JavaScript; a finished build's page does not.
func TestRunningBuildRefreshes(t *testing.T) {
	e := newEnv(t, true)
	ts := e.server()
	c := e.client()
	id := e.ids["tools/linter"]
	if err := e.st.PutBuild(context.Background(), store.Build{ProjectID: id, Name: "api", Version: "0.1.2",
		Status: store.BuildRunning, Log: "step 1/3: compiling", StartedAt: ago(0)}); err != nil {
		t.Fatal(err)
	}
	const refresh = `<meta http-equiv="refresh" content="2">`
	running := e.get(c, ts.URL+"/projects/tools/linter/-/builds/api/0.1.2", http.StatusOK)
	if !strings.Contains(running, refresh) || !strings.Contains(running, "step 1/3: compiling") {
		t.Errorf("running build page lacks the refresh or the log so far:\n%s", running)
	}
	if done := e.get(c, ts.URL+"/projects/tools/linter/-/builds/api/0.1.1", http.StatusOK); strings.Contains(done, refresh) {
		t.Error("a finished build's page refreshes itself")
	}
}
