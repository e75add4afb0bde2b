package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/github/githubtest"
)

// instantCluster runs instances that are healthy at once, all answering at
// one endpoint.
type instantCluster struct {
	endpoint string

	mu    sync.Mutex
	next  int
	insts map[string]providers.Instance
}

func (c *instantCluster) Instances(_ context.Context, project, build string) ([]providers.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []providers.Instance
	for _, in := range c.insts {
		if in.Project == project && in.Build == build {
			out = append(out, in)
		}
	}
	return out, nil
}

func (c *instantCluster) Start(_ context.Context, spec providers.InstanceSpec) (providers.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	in := providers.Instance{ID: fmt.Sprintf("i%d", c.next), Project: spec.Project, Build: spec.Build,
		Version: spec.Version, State: providers.InstanceHealthy, StartedAt: time.Unix(int64(c.next), 0)}
	if c.insts == nil {
		c.insts = map[string]providers.Instance{}
	}
	c.insts[in.ID] = in
	return in, nil
}

func (c *instantCluster) Stop(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.insts, id)
	return nil
}

func (c *instantCluster) Endpoint(context.Context, string, string) (string, error) {
	return c.endpoint, nil
}

var _ providers.Cluster = (*instantCluster)(nil)

// TestNoSecretLeaks runs a whole pipeline — a signed webhook, tagging on
// GitHub with a token, a build, a rollout, a verification suite that sends
// an ${env:…} secret to a service which echoes it back, notifications
// signed with a secret — then reads every page, API answer and rejection,
// and checks that no secret appears in them, in any log line, in what the
// notification receiver got, or in the stored verification report.
func TestNoSecretLeaks(t *testing.T) {
	ctx := context.Background()
	secrets := map[string]string{
		"webhook secret":  "whsec-9f8e7d6c5b4a",
		"GitHub token":    "ghp_SecretToken1234567890abcdef",
		"notify secret":   "notify-secret-5a6b7c8d",
		"suite secret":    "suite-api-key-0a1b2c3d",
		"session key":     "session-key-0123456789abcdefghijklmnop",
		"old webhook key": "whsec-previous-1a2b3c",
	}
	gh := githubtest.New(t, githubtest.WithToken(secrets["GitHub token"]))
	repo := gh.AddRepo("acme", "shop", "main")
	head := repo.Commit("main", "first", map[string]string{
		".mainline.yaml": "builds:\n  - name: api\n    dockerfile: Dockerfile\nverify: verify.yaml\n",
		"Dockerfile":     "FROM scratch\n",
		"verify.yaml": `base_url: ${SERVICE_URL}
steps:
  - name: echo
    request: { path: /echo, headers: { Authorization: "Bearer ${env:API_KEY}" } }
    expect: { status: 200 }
`,
	})
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"you_sent": %q}`, r.Header.Get("Authorization")) // a careless service
	}))
	defer svc.Close()
	var notesMu sync.Mutex
	var notes bytes.Buffer
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notesMu.Lock()
		defer notesMu.Unlock()
		fmt.Fprintln(&notes, r.Header)
		io.Copy(&notes, r.Body)
	}))
	defer receiver.Close()

	dir := t.TempDir()
	s := settings{DataDir: dir, DatabaseURL: "sqlite://" + filepath.Join(dir, "m.db"), Resync: time.Hour,
		WebhookSecrets: []string{secrets["webhook secret"], secrets["old webhook key"]},
		GitHubToken:    secrets["GitHub token"], GitHubURL: gh.BaseURL(),
		NotifyURL: receiver.URL, NotifySecret: secrets["notify secret"],
		SessionKey: secrets["session key"], PublicRead: true}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := newServer(ctx, s, logger, controller.Providers{Builder: digestBuilder{}, Cluster: &instantCluster{endpoint: svc.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	srv.controller.Getenv = func(name string) (string, bool) { return secrets["suite secret"], name == "API_KEY" }
	p, err := srv.store.CreateProject(ctx, store.Project{Name: "shop", SCM: "github", Location: "acme/shop"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.handler, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()

	var answers bytes.Buffer
	fetch := func(method, path, ctype string, body []byte, header map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		fmt.Fprintf(&answers, "%s %s → %d %v\n", method, path, resp.StatusCode, resp.Header)
		io.Copy(&answers, resp.Body)
		return resp.StatusCode
	}

	payload, err := os.ReadFile("../../../shared/fixtures/github-webhooks/push/with-new-branch.payload.json")
	if err != nil {
		t.Fatal(err)
	}
	var push map[string]any
	if err := json.Unmarshal(payload, &push); err != nil {
		t.Fatal(err)
	}
	push["ref"], push["after"], push["deleted"] = "refs/heads/main", head, false
	push["repository"].(map[string]any)["full_name"] = "acme/shop"
	payload, _ = json.Marshal(push)
	deliver := func(secret, id string) int {
		return fetch(http.MethodPost, "/webhooks/github", "application/json", payload, map[string]string{
			"X-GitHub-Event": "push", "X-GitHub-Delivery": id, "X-Hub-Signature-256": signBody([]byte(secret), payload)})
	}
	if got := deliver(secrets["old webhook key"], "leak-1"); got != http.StatusAccepted {
		t.Fatalf("webhook signed with the previous secret answered %d, want 202", got)
	}
	deliver(secrets["webhook secret"], "leak-1")     // a replay
	deliver("not-the-secret", "leak-2")              // a forgery
	deliver(secrets["webhook secret"]+"x", "leak-3") // a near miss
	waitFor(t, time.Minute, "0.0.1 verified", func() bool {
		runs, _ := srv.store.VerifyRuns(ctx, p.ID, 10)
		return len(runs) > 0 && runs[0].Status == controller.RunPassed
	})
	waitFor(t, 30*time.Second, "the notifications", func() bool {
		notesMu.Lock()
		defer notesMu.Unlock()
		return strings.Contains(notes.String(), "deploy_finished")
	})

	for _, path := range []string{"/", "/projects/shop", "/projects/shop/builds/api/0.0.1", "/delivery", "/api/v1/projects",
		"/api/v1/projects/shop", "/api/v1/events", "/api/v1/openapi.json", "/metrics", "/readyz", "/healthz", "/signin"} {
		fetch(http.MethodGet, path, "", nil, nil)
	}
	runs, _ := srv.store.VerifyRuns(ctx, p.ID, 10)
	for _, r := range runs {
		fetch(http.MethodGet, fmt.Sprintf("/projects/shop/runs/%d", r.ID), "", nil, nil)
		answers.Write(r.Report)
	}
	fetch(http.MethodPost, "/signin", "application/x-www-form-urlencoded", []byte("token="+secrets["GitHub token"]), nil)
	fetch(http.MethodPost, "/api/v1/projects/shop/pause", "application/json", nil, map[string]string{"Authorization": "Bearer " + secrets["session key"]})

	notesMu.Lock()
	sent := notes.String()
	notesMu.Unlock()
	for what, secret := range secrets {
		for where, text := range map[string]string{"the logs": logs.String(), "the HTTP answers": answers.String(), "the notifications": sent} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in %s", what, where)
			}
		}
	}
	if !strings.Contains(answers.String(), "you_sent") {
		t.Errorf("the answers do not include the verification report; the test reads too little")
	}
	if testing.Verbose() {
		t.Logf("scanned %d bytes of logs, %d of answers, %d of notifications", logs.b.Len(), answers.Len(), len(sent))
	}
}
