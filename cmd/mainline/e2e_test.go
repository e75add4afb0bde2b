package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// pipeline is a whole Mainline — store, controller, webhook receiver, local
// registry, Docker builder and cluster — serving on loopback, watching one
// local repository that holds the sample service.
type pipeline struct {
	t       *testing.T
	srv     *server
	url     string // Mainline's HTTP server
	secret  []byte
	project store.Project
	repo    *sampleRepo
}

// startPipeline starts a pipeline for a fresh copy of the sample service.
// Everything it starts is stopped, and every container and image it made
// removed, when the test ends.
func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	ctx := context.Background()
	cli := dockertest.Client(t)
	name := "e2e-" + randomHex(4)
	cleanupProject(t, cli, name)

	dir := t.TempDir()
	repo := newSampleRepo(t, dir)
	s := settings{
		DataDir:        filepath.Join(dir, "data"),
		RegistryAddr:   "127.0.0.1:0",
		Resync:         time.Hour, // webhooks drive this test
		WebhookSecrets: []string{"e2e-secret"},
		HealthDeadline: 15 * time.Second,
	}
	s.DatabaseURL = "sqlite://" + filepath.Join(s.DataDir, "mainline.db")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	p, closeProviders, err := localProviders(ctx, &s, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeProviders)
	srv, err := newServer(ctx, s, logger, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.close() })
	proj, err := srv.store.CreateProject(ctx, store.Project{Name: name, SCM: "git", Location: repo.bare})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.handler, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
		hs.Close()
	})
	logStateOnFailure(t, srv.store, name, "")
	return &pipeline{t: t, srv: srv, url: "http://" + ln.Addr().String(), secret: []byte("e2e-secret"), project: proj, repo: repo}
}

// push commits files in the clone, pushes, and delivers the push to
// Mainline as GitHub would.
func (p *pipeline) push(msg string, files map[string]string) string {
	p.t.Helper()
	sha := p.repo.commit(msg, files)
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"repository": map[string]any{"full_name": p.project.Name, "name": p.project.Name, "default_branch": "main"},
		"pusher":     map[string]any{"name": "dev"},
	})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "e2e-"+randomHex(8))
	req.Header.Set("X-Hub-Signature-256", signBody(p.secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		p.t.Fatalf("webhook answered %d, want 202", resp.StatusCode)
	}
	return sha
}

// waitRunning waits until version runs ×n, alone and healthy, and its
// verification has finished; it returns that run's status.
func (p *pipeline) waitRunning(version string, n int) string {
	p.t.Helper()
	return waitVerifiedWithin(p.t, 3*time.Minute, p.srv.store, p.project.ID, version, n)
}

func (p *pipeline) desired() store.Desired {
	p.t.Helper()
	d, err := p.srv.store.Desired(context.Background(), p.project.ID, "orders")
	if err != nil {
		p.t.Fatal(err)
	}
	return d
}

func (p *pipeline) events(kind string) []string {
	p.t.Helper()
	evs, err := p.srv.store.Events(context.Background(), store.EventQuery{ProjectID: p.project.ID, Kind: kind, Limit: 50})
	if err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Message)
	}
	return out
}

func (p *pipeline) endpoint() string {
	p.t.Helper()
	u, err := p.srv.controller.Providers.Cluster.Endpoint(context.Background(), p.project.Name, "orders")
	if err != nil {
		p.t.Fatal(err)
	}
	return u
}

// TestPipeline drives the whole loop on the real Docker Engine: the first
// push deploys 0.0.1 ×2 and verifies it; 0.0.2 rolls out under load with
// no failed request; 0.0.3 fails its health checks and 0.0.4 fails
// verification, and each is rolled back to 0.0.2 in the desired state,
// with an event saying why, while traffic keeps flowing.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs containers")
	}
	p := startPipeline(t)
	p.push("first", nil)
	if got := p.waitRunning("0.0.1", 2); got != "passed" {
		t.Fatalf("verification of 0.0.1: %s, want passed", got)
	}

	load := startLoad(t, p.endpoint())
	p.push("change the greeting", map[string]string{"main.go": p.repo.mainGo(`greeting = "hello again"`)})
	if got := p.waitRunning("0.0.2", 2); got != "passed" {
		t.Fatalf("verification of 0.0.2: %s, want passed", got)
	}
	after := time.Now()
	time.Sleep(300 * time.Millisecond)
	res := load.stop()
	t.Logf("load during 0.0.1 → 0.0.2: %d requests, %d failed", res.total, res.failed)
	if res.failed != 0 {
		t.Errorf("%d of %d requests failed during the rollout: %v", res.failed, res.total, res.firstErr)
	}
	if v := res.versionsAfter(after); len(v) != 1 || v["0.0.2"] == 0 {
		t.Errorf("versions answering after the rollout: %v, want only 0.0.2", v)
	}

	load = startLoad(t, p.endpoint())
	p.push("break the health check", map[string]string{"main.go": p.repo.mainGo(`healthy  = false`)})
	waitFor(t, 2*time.Minute, "0.0.3 rolled back", func() bool { return len(p.events("rolled_back")) == 1 })
	if d := p.desired(); d.Version != "0.0.2" || d.Instances != 2 || d.SetBy != "rollback" {
		t.Errorf("desired after the health failure = %s ×%d by %q, want 0.0.2 ×2 by rollback", d.Version, d.Instances, d.SetBy)
	}
	if got, want := p.events("rolled_back")[0], "0.0.3 failed health checks; rolled back to 0.0.2"; got != want {
		t.Errorf("rollback event = %q, want %q", got, want)
	}
	p.waitRunning("0.0.2", 2)

	p.push("return the wrong status", map[string]string{"main.go": p.repo.mainGo(`openStatus = "pending"`)})
	waitFor(t, 2*time.Minute, "0.0.4 rolled back", func() bool { return len(p.events("rolled_back")) == 2 })
	msg := p.events("rolled_back")[0]
	if !strings.Contains(msg, "0.0.4 failed verification: step 'create order' failed") || !strings.Contains(msg, `$.status`) || !strings.Contains(msg, "rolled back to 0.0.2") {
		t.Errorf("rollback event = %q, want it to name 0.0.4, the step, the assertion and 0.0.2", msg)
	}
	p.waitRunning("0.0.2", 2)
	res = load.stop()
	t.Logf("load during 0.0.3 and 0.0.4: %d requests, %d failed", res.total, res.failed)
	if res.failed != 0 {
		t.Errorf("%d of %d requests failed while bad versions were rejected: %v", res.failed, res.total, res.firstErr)
	}
	if d := p.desired(); d.Version != "0.0.2" {
		t.Errorf("desired = %s, want 0.0.2", d.Version)
	}
}

// load sends GET / through the proxy from 10 workers, at most ~200
// requests a second in all, for at most three minutes.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    loadResult
}

type loadResult struct {
	total, failed int
	firstErr      error
	seen          []seen
}

type seen struct {
	at      time.Time
	version string
}

func (r loadResult) versionsAfter(t time.Time) map[string]int {
	out := map[string]int{}
	for _, s := range r.seen {
		if s.at.After(t) {
			out[s.version]++
		}
	}
	return out
}

func startLoad(t *testing.T, url string) *load {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	l := &load{cancel: cancel}
	client := &http.Client{Timeout: 10 * time.Second}
	var n atomic.Int64
	for range 10 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for ctx.Err() == nil && n.Add(1) < 40000 {
				l.one(ctx, client, url)
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		}()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) one(ctx context.Context, client *http.Client, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return // stopped mid-request: not the service's fault
	}
	var body struct {
		Version string `json:"version"`
	}
	if err == nil {
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.total++
	if err != nil {
		l.res.failed++
		if l.res.firstErr == nil {
			l.res.firstErr = err
		}
		return
	}
	l.res.seen = append(l.res.seen, seen{time.Now(), body.Version})
}

func (l *load) stop() loadResult {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

// sampleRepo is a bare repository holding the sample service and a clone
// to change it in.
type sampleRepo struct {
	t           *testing.T
	bare, clone string
}

func newSampleRepo(t *testing.T, dir string) *sampleRepo {
	t.Helper()
	r := &sampleRepo{t: t, bare: filepath.Join(dir, "orders.git"), clone: filepath.Join(dir, "orders")}
	r.git(dir, "init", "-q", "--bare", "-b", "main", r.bare)
	r.git(dir, "clone", "-q", r.bare, r.clone)
	r.git(r.clone, "checkout", "-q", "-b", "main")
	if err := writeSample(r.clone); err != nil {
		t.Fatal(err)
	}
	return r
}

// mainGo returns the sample's original main.go with one constant line
// replaced.
func (r *sampleRepo) mainGo(line string) string {
	data, err := sampleFS.ReadFile("sample/main.go.tmpl")
	if err != nil {
		r.t.Fatal(err)
	}
	name := strings.Fields(line)[0]
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name && strings.Contains(l, "=") {
			l = "\t" + line
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func (r *sampleRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(r.clone, name), []byte(body), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git(r.clone, "add", "-A")
	r.git(r.clone, "commit", "-q", "--allow-empty", "-m", msg)
	r.git(r.clone, "push", "-q", "origin", "main")
	return r.git(r.clone, "rev-parse", "HEAD")
}

func (r *sampleRepo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// cleanupProject removes, when the test ends, every container and image
// Mainline made for the project.
func cleanupProject(t *testing.T, cli *client.Client, project string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f := filters.NewArgs(filters.Arg("label", "mainline.project="+project))
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Errorf("list containers: %v", err)
		}
		for _, c := range cs {
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
				t.Errorf("remove container: %v", err)
			}
		}
		imgs, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Errorf("list images: %v", err)
		}
		for _, im := range imgs {
			if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
				t.Errorf("remove image: %v", err)
			}
		}
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// logStateOnFailure logs, if the test fails, what `mainline status` says of
// project, its last events, and the tail of the server log at logPath
// (none when logPath is ""): what a reader of a failed CI run needs.
func logStateOnFailure(t *testing.T, st store.Store, project, logPath string) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx := context.Background()
		var b strings.Builder
		if err := printStatus(ctx, &b, st, []string{project}); err != nil {
			fmt.Fprintf(&b, "status: %v\n", err)
		}
		if p, err := st.ProjectByName(ctx, project); err == nil {
			evs, _ := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Limit: 40})
			for i := len(evs) - 1; i >= 0; i-- {
				fmt.Fprintf(&b, "  event %s %s %s\n", evs[i].At.Format("15:04:05.000"), evs[i].Kind, firstLine(evs[i].Message))
			}
		}
		if logPath != "" {
			out, _ := os.ReadFile(logPath)
			fmt.Fprintf(&b, "server log %s:\n%s\n", logPath, tail(string(out), 60))
		}
		t.Logf("state when the test failed:\n%s", b.String())
	})
}
