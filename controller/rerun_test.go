package controller_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

// TestRunAgain: a controller whose Run ended (a replica that lost its
// lease) runs again later and catches up on what happened in between —
// here a push made while it was not running — and wakes still work.
func TestRunAgain(t *testing.T) {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer svc.Close()
	ctx := context.Background()
	st := storetest.SQLite(t)
	repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": minimalConfig})
	p := addProject(t, st, "again", repo.Bare)
	cluster := newMemCluster(svc.URL)
	c := &controller.Controller{Store: st, Resync: time.Hour, Providers: controller.Providers{
		SCM:     func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
		Builder: &fakeBuilder{},
		Cluster: cluster,
	}}
	running := func(v string) func() bool {
		return func() bool { return cluster.versions()[v] == 1 && len(cluster.versions()) == 1 }
	}
	for i, version := range []string{"0.0.1", "0.0.2", "0.0.3"} {
		if i > 0 {
			repo.Commit("change "+version, nil) // made while no Run is going
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(runCtx) }()
		eventually(t, version+" running", running(version))
		if i == 2 {
			// A wake during a later Run reaches that Run's queue.
			repo.Commit("woken", nil)
			c.Wake(p.ID)
			eventually(t, "0.0.4 running after a wake", running("0.0.4"))
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run %d: %v", i+1, err)
		}
	}
}
