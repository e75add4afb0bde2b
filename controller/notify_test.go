package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

type recordingNotifier struct {
	mu    sync.Mutex
	notes []providers.Notification
}

func (n *recordingNotifier) Notify(_ context.Context, note providers.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notes = append(n.notes, note)
	return nil
}

func (n *recordingNotifier) kinds() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, note := range n.notes {
		out = append(out, note.Kind+" "+note.Version)
	}
	return out
}

// TestNotifications: a deploy is announced when it starts and when it is
// verified, with the commit and the service's URL; a version that fails
// its health checks is announced as rolled back.
func TestNotifications(t *testing.T) {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"ok": true}`) }))
	defer svc.Close()
	st := storetest.SQLite(t)
	repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": scheduledConfig, "verify.yaml": scheduledSuite})
	p := addProject(t, st, "notes", repo.Bare)
	cluster := newMemCluster(svc.URL)
	n := &recordingNotifier{}
	c := &controller.Controller{
		Store: st,
		Providers: controller.Providers{
			SCM:      func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
			Builder:  &fakeBuilder{},
			Cluster:  cluster,
			Notifier: n,
		},
		Resync: time.Hour,
	}
	runController(t, c)
	eventually(t, "0.0.1 announced live", func() bool { return len(n.kinds()) == 2 })
	cluster.bad["0.0.2"] = true
	repo.Commit("broken", nil)
	c.Wake(p.ID)
	eventually(t, "0.0.2 rolled back", func() bool { return len(n.kinds()) == 3 })

	want := []string{"deploy_started 0.0.1", "deploy_finished 0.0.1", "deploy_started 0.0.2", "rolled_back 0.0.2"}
	eventually(t, "the notifications", func() bool { return fmt.Sprint(n.kinds()) == fmt.Sprint(want[:len(n.kinds())]) && len(n.kinds()) == 4 })
	n.mu.Lock()
	defer n.mu.Unlock()
	first := n.notes[1]
	if first.SHA != repo.git(repo.Clone, "rev-parse", "HEAD~1") || first.EnvironmentURL != svc.URL || first.Project != "notes" {
		t.Errorf("deploy_finished = %+v, want the commit of 0.0.1 and the service URL", first)
	}
}
