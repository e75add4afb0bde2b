package controller_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
	"github.com/mainline-cd/mainline/webhooks"
)

// fixtureRepo is the repository the real push fixtures are for.
const fixtureRepo = "Codertocat/Hello-World"

const minimalConfig = `builds:
  - name: api
    dockerfile: Dockerfile
`

func backends(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.Postgres(t)) })
}

// newController wires a controller over a store and local git, with no
// builder: runs stop after the tag stage, which is what these tests check.
func newController(t *testing.T, st store.Store, resync time.Duration) *controller.Controller {
	t.Helper()
	return &controller.Controller{
		Store: st,
		Providers: controller.Providers{
			SCM: func(_ context.Context, p store.Project) (providers.SCM, error) {
				return gitlocal.Open(p.Location)
			},
		},
		Resync:  resync,
		Workers: 4,
	}
}

func addProject(t *testing.T, st store.Store, name, path string) store.Project {
	t.Helper()
	p, err := st.CreateProject(context.Background(), store.Project{Name: name, SCM: "git", Location: path})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runController runs c until the test ends.
func runController(t *testing.T, c *controller.Controller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// eventually polls cond every 20 ms until it holds or 30 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func postDelivery(t *testing.T, url string, secret []byte, id, event string, body []byte) int {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// settled waits until the project's last run stopped after tagging (at
// the build stage, since these controllers have no builder) with nothing
// queued.
func settled(t *testing.T, c *controller.Controller, id int64) {
	t.Helper()
	eventually(t, "the controller to settle after tagging", func() bool {
		s, ok := c.Status(id)
		return ok && s.Stage == "build" && c.QueueDepth() == 0
	})
}

// TestWebhookStormTagsOnce sends 200 concurrent deliveries of one push and
// 200 more that repeat 20 delivery ids: exactly one tag results, and each
// delivery id is stored once.
func TestWebhookStormTagsOnce(t *testing.T) {
	payload, err := os.ReadFile("../../shared/fixtures/github-webhooks/push/with-new-branch.payload.json")
	if err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, st store.Store) {
		repo := newGitRepo(t, "master", map[string]string{".mainline.yaml": minimalConfig})
		p := addProject(t, st, fixtureRepo, repo.Bare)
		c := newController(t, st, time.Hour)
		secret := []byte("storm-secret")
		srv := httptest.NewServer(&webhooks.Handler{Secrets: [][]byte{secret}, Store: st, Waker: c})
		defer srv.Close()
		runController(t, c)
		settled(t, c, p.ID) // the start-up reconcile tags the first commit
		head := repo.Commit("second commit", map[string]string{"README": "hello"})

		var wg sync.WaitGroup
		codes := make(chan int, 400)
		for i := range 400 {
			id := "storm-same"
			if i >= 200 {
				id = fmt.Sprintf("storm-dup-%d", i%20)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- postDelivery(t, srv.URL, secret, id, "push", payload)
			}()
		}
		wg.Wait()
		close(codes)
		for code := range codes {
			if code != http.StatusAccepted && code != http.StatusOK {
				t.Errorf("delivery answered %d, want 202 or 200", code)
			}
		}
		eventually(t, "the second tag", func() bool { return len(repo.Tags()) == 2 })
		settled(t, c, p.ID)
		if _, err := c.Reconcile(context.Background(), p.ID); err != nil && !controller.IsStalled(err) {
			t.Fatal(err)
		}
		want := []string{"0.0.1 " + repo.git(repo.Clone, "rev-parse", "HEAD~1"), "0.0.2 " + head}
		if got := repo.Tags(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("tags = %q, want %q", got, want)
		}
		pending, err := st.PendingDeliveries(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 0 {
			t.Errorf("%d deliveries left unprocessed", len(pending))
		}
		tagged, err := st.Events(context.Background(), store.EventQuery{ProjectID: p.ID, Kind: "tagged", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(tagged) != 2 {
			t.Errorf("%d tagged events, want 2: %v", len(tagged), tagged)
		}
	})
}

// TestResyncTagsWithoutWebhook loses every webhook: the periodic resync
// still tags the new head.
func TestResyncTagsWithoutWebhook(t *testing.T) {
	st := storetest.SQLite(t)
	repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": minimalConfig})
	addProject(t, st, "lost", repo.Bare)
	c := newController(t, st, 100*time.Millisecond)
	runController(t, c)
	eventually(t, "the first tag", func() bool { return len(repo.Tags()) == 1 })
	head := repo.Commit("no webhook for this one", nil)
	eventually(t, "the second tag", func() bool { return len(repo.Tags()) == 2 })
	if got, want := repo.Tags()[1], "0.0.2 "+head; got != want {
		t.Errorf("tag = %q, want %q", got, want)
	}
}
