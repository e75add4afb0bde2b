package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/deploy/verify"
	"github.com/mainline-cd/mainline/web"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// now is the fake clock's time in every test.
var now = time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// fakeController answers Status from a map and records wake-ups.
type fakeController struct {
	mu     sync.Mutex
	status map[int64]controller.ProjectStatus
	woken  []int64
}

func (f *fakeController) Status(id int64) (controller.ProjectStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.status[id]
	return s, ok
}

func (f *fakeController) Wake(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.woken = append(f.woken, id)
}

func (f *fakeController) set(id int64, s controller.ProjectStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[id] = s
}

// tokenSecret is the API token every test signs in with; it must never
// appear in a page or a log.
const tokenSecret = "mlt_test_0123456789abcdef0123456789abcdef"

// env is a web.Server over a real SQLite store filled by seed.
type env struct {
	t    *testing.T
	st   store.Store
	ctrl *fakeController
	srv  *web.Server
	logs *bytes.Buffer
	ids  map[string]int64
}

func newEnv(t *testing.T, publicRead bool) *env {
	t.Helper()
	st := storetest.SQLite(t)
	e := &env{t: t, st: st, ctrl: &fakeController{status: map[int64]controller.ProjectStatus{}}, logs: &bytes.Buffer{}, ids: map[string]int64{}}
	e.srv = &web.Server{
		Store:        st,
		Controller:   e.ctrl,
		Logger:       slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:        fixedClock{now},
		SessionKey:   []byte("test session key, 32 bytes long!"),
		PublicRead:   publicRead,
		PollInterval: 50 * time.Millisecond,
	}
	t.Cleanup(e.srv.Close)
	seed(t, st, e.ctrl, e.ids)
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// ago returns the fake clock's time minus d.
func ago(d time.Duration) time.Time { return now.Add(-d) }

// passingReport is a verification report as the verify stage stores it.
func passingReport(t testing.TB, version string) []byte {
	t.Helper()
	rep := verify.Report{RunID: "r1", Suite: ".mainline/verify.yaml", BaseURL: "http://127.0.0.1:9000", StartedAt: ago(time.Hour),
		Outcome: verify.Passed, Steps: []verify.StepReport{
			{Name: "create order", Outcome: verify.Passed, Attempts: 1,
				Request: &verify.RequestRecord{Method: "POST", URL: "http://127.0.0.1:9000/orders",
					Headers: http.Header{"Content-Type": {"application/json"}, "Mainline-Synthetic": {"1"}}, Body: `{"sku":"test-1"}`},
				Response: &verify.ResponseRecord{Status: 201, Headers: http.Header{"Content-Type": {"application/json"}},
					Body: `{"id":"o-1","sku":"test-1","status":"open","version":"` + version + `"}`, Latency: 3 * time.Millisecond},
				Assertions: []verify.Assertion{{What: "status", Expected: "201", Got: "201", Outcome: verify.Passed},
					{What: "$.status", Expected: `"open"`, Got: `"open"`, Outcome: verify.Passed}},
				Captured: map[string]string{"order_id": "o-1"}},
			{Name: "cancel order", Outcome: verify.Passed, Attempts: 1,
				Request:    &verify.RequestRecord{Method: "DELETE", URL: "http://127.0.0.1:9000/orders/o-1", Headers: http.Header{}},
				Response:   &verify.ResponseRecord{Status: 204, Headers: http.Header{}, Latency: 2 * time.Millisecond},
				Assertions: []verify.Assertion{{What: "status", Expected: "204", Got: "204", Outcome: verify.Passed}}},
		}}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seed fills st with projects in each state the dashboard shows, the way
// the controller writes them.
func seed(t testing.TB, st store.Store, ctrl *fakeController, ids map[string]int64) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	project := func(name string, paused bool) store.Project {
		p, err := st.CreateProject(ctx, store.Project{Name: name, SCM: "github", Location: name, Paused: paused})
		must(err)
		ids[name] = p.ID
		return p
	}
	release := func(p store.Project, builds []string, versions ...string) {
		for i, v := range versions {
			sha := strings.Repeat(string(rune('a'+i)), 40)
			must(st.AddTag(ctx, store.Tag{ProjectID: p.ID, Name: v, SHA: sha, Message: "Merge pull request #" + v, CreatedAt: ago(time.Duration(len(versions)-i) * 24 * time.Hour)}))
			for _, b := range builds {
				must(st.PutBuild(ctx, store.Build{ProjectID: p.ID, Name: b, Version: v, Status: store.BuildSucceeded,
					Image: "127.0.0.1:5005/" + p.Name + "/" + b + ":" + v, Digest: "sha256:" + strings.Repeat("0", 64),
					Log: "step 1/3: go build\nstep 2/3: docker build\nstep 3/3: push", StartedAt: ago(time.Duration(len(versions)-i) * 24 * time.Hour),
					FinishedAt: ago(time.Duration(len(versions)-i)*24*time.Hour - time.Minute)}))
			}
		}
	}
	desire := func(p store.Project, build, version string, n int, setBy string, at time.Time) {
		cur, _ := st.Desired(ctx, p.ID, build)
		_, err := st.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: build, Version: version, Instances: n, SetAt: at, SetBy: setBy, Revision: cur.Revision})
		must(err)
	}
	last := func(p store.Project, build string, vs map[string]int, at time.Time) {
		must(st.SetLast(ctx, store.Last{ProjectID: p.ID, Build: build, Versions: vs, ObservedAt: at}))
	}
	event := func(p store.Project, kind, msg string, at time.Time) {
		_, err := st.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: kind, Message: msg, At: at})
		must(err)
	}
	run := func(p store.Project, version, status, summary string, report []byte, at time.Time) {
		vr, err := st.AddVerifyRun(ctx, store.VerifyRun{ProjectID: p.ID, Version: version, Trigger: "rollout", Status: "running", StartedAt: at})
		must(err)
		if status != "running" {
			vr.Status, vr.Summary, vr.Report, vr.FinishedAt = status, summary, report, at.Add(2*time.Second)
			must(st.UpdateVerifyRun(ctx, vr))
		}
	}

	// In sync, verified, with an open dependency PR.
	orders := project("octo-org/orders", false)
	release(orders, []string{"api", "www"}, "0.3.14", "0.3.15")
	event(orders, "head", "main is at "+strings.Repeat("b", 7), ago(2*time.Hour))
	event(orders, "tagged", "tagged bbbbbbb 0.3.15", ago(2*time.Hour-time.Minute))
	desire(orders, "api", "0.3.15", 2, "tag 0.3.15", ago(time.Hour+5*time.Minute))
	desire(orders, "www", "0.3.15", 1, "tag 0.3.15", ago(time.Hour+5*time.Minute))
	last(orders, "api", map[string]int{"0.3.15": 2}, ago(time.Hour))
	last(orders, "www", map[string]int{"0.3.15": 1}, ago(time.Hour))
	run(orders, "0.3.14", "passed", "2 steps passed", passingReport(t, "0.3.14"), ago(48*time.Hour))
	run(orders, "0.3.15", "passed", "2 steps passed", passingReport(t, "0.3.15"), ago(time.Hour))
	event(orders, "verified", "0.3.15 verified: 2 steps passed", ago(time.Hour))
	must(st.PutDependencyPR(ctx, store.DependencyPR{ProjectID: orders.ID, Number: 42, Branch: "mainline/deps", Title: "Upgrade golang.org/x/text to v0.44.0",
		State: "open", Checks: "pending", URL: "https://github.com/octo-org/orders/pull/42", UpdatedAt: ago(10 * time.Minute)}))

	// Rolling: one of three instances on the new version.
	cart := project("shop/cart", false)
	release(cart, []string{"api"}, "1.1.9", "1.2.0")
	desire(cart, "api", "1.2.0", 3, "tag 1.2.0", ago(2*time.Minute))
	last(cart, "api", map[string]int{"1.1.9": 2, "1.2.0": 1}, ago(10*time.Second))
	event(cart, "desired_changed", "api: desired 1.2.0 ×3 (was 1.1.9 ×3), set by tag 1.2.0", ago(2*time.Minute))

	// Rolled back after a failed verification.
	pay := project("shop/payments", false)
	release(pay, []string{"api"}, "0.9.2", "0.9.3")
	run(pay, "0.9.2", "passed", "2 steps passed", passingReport(t, "0.9.2"), ago(72*time.Hour))
	run(pay, "0.9.3", "failed", `step 'create order' failed: $.status = "error", want "open"`, nil, ago(30*time.Minute))
	must(st.Reject(ctx, store.Rejection{ProjectID: pay.ID, Version: "0.9.3", Reason: `failed verification: step 'create order' failed: $.status = "error", want "open"`, At: ago(29 * time.Minute)}))
	desire(pay, "api", "0.9.2", 2, "rollback", ago(29*time.Minute))
	last(pay, "api", map[string]int{"0.9.2": 2}, ago(28*time.Minute))
	event(pay, "rolled_back", `0.9.3 failed verification: step 'create order' failed: $.status = "error", want "open"; rolled back to 0.9.2`, ago(29*time.Minute))

	// Paused.
	demo := project("demo", true)
	release(demo, []string{"app"}, "0.0.1")
	desire(demo, "app", "0.0.1", 1, "tag 0.0.1", ago(5*24*time.Hour))
	last(demo, "app", map[string]int{"0.0.1": 1}, ago(5*24*time.Hour))

	// A failed build: only the controller knows the project is stuck.
	tools := project("tools/linter", false)
	release(tools, []string{"api"}, "0.1.0")
	desire(tools, "api", "0.1.0", 1, "tag 0.1.0", ago(24*time.Hour))
	last(tools, "api", map[string]int{"0.1.0": 1}, ago(24*time.Hour))
	must(st.PutBuild(ctx, store.Build{ProjectID: tools.ID, Name: "api", Version: "0.1.1", Status: store.BuildFailed, Image: "127.0.0.1:5005/tools/linter/api:0.1.1",
		Error: "go build: exit status 1", Log: "main.go:3:1: syntax error", StartedAt: ago(3 * time.Minute), FinishedAt: ago(2 * time.Minute)}))
	event(tools, "build_failed", "build api@0.1.1 failed: go build: exit status 1", ago(2*time.Minute))
	ctrl.set(tools.ID, controller.ProjectStatus{Stage: "build", Result: "waiting", At: ago(time.Minute),
		Reason: "build api@0.1.1 failed: go build: exit status 1 (push a fix, or retry the build)"})

	// Waiting for a dependency to roll first.
	shop := project("shop/web", false)
	release(shop, []string{"api", "www"}, "2.0.0", "2.0.1")
	desire(shop, "api", "2.0.1", 2, "tag 2.0.1", ago(time.Minute))
	desire(shop, "www", "2.0.1", 1, "tag 2.0.1", ago(time.Minute))
	last(shop, "api", map[string]int{"2.0.0": 2, "2.0.1": 1}, ago(5*time.Second))
	last(shop, "www", map[string]int{"2.0.0": 1}, ago(5*time.Second))
	ctrl.set(shop.ID, controller.ProjectStatus{Stage: "scale", Result: "progress", At: ago(time.Second),
		Reason: "api: rolling to 2.0.1 (1/2 healthy): start 1; www: waiting for api to reach 2.0.1 (depends_on)"})

	_, err := st.AddToken(ctx, store.Token{Name: "alice", Hash: web.HashToken(tokenSecret), CreatedAt: ago(time.Hour)})
	must(err)
}

// client is an HTTP client with a cookie jar, not following redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// server starts e.srv on loopback.
func (e *env) server() *httptest.Server {
	ts := httptest.NewServer(e.srv)
	// End the live streams first: Close waits for every connection.
	e.t.Cleanup(func() { e.srv.Close(); ts.Close() })
	return ts
}

var (
	nonceRE = regexp.MustCompile(`name="nonce" value="([0-9a-f]+)"`)
	csrfRE  = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
)

// signIn signs c in with the test token through the sign-in form and
// returns the CSRF token the pages then carry.
func (e *env) signIn(ts *httptest.Server, c *http.Client) string {
	e.t.Helper()
	body := e.get(c, ts.URL+"/signin", http.StatusOK)
	m := nonceRE.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no nonce on the sign-in page:\n%s", body)
	}
	resp, err := c.PostForm(ts.URL+"/signin", url.Values{"nonce": {m[1]}, "token": {tokenSecret}, "next": {"/"}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign in: status %d, want 303", resp.StatusCode)
	}
	page := e.get(c, ts.URL+"/projects/octo-org/orders", http.StatusOK)
	m = csrfRE.FindStringSubmatch(page)
	if m == nil {
		e.t.Fatal("no CSRF token on the project page after sign-in")
	}
	return m[1]
}

func (e *env) get(c *http.Client, u string, want int) string {
	e.t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("GET %s: status %d, want %d\n%s", u, resp.StatusCode, want, b)
	}
	return string(b)
}

// checkGolden compares got with testdata/name, rewriting it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update if the change is right):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// fragment returns the element that starts with start, up to and
// including the first end after it.
func fragment(t *testing.T, page, start, end string) string {
	t.Helper()
	i := strings.Index(page, start)
	if i < 0 {
		t.Fatalf("no %q in page:\n%s", start, page)
	}
	j := strings.Index(page[i:], end)
	if j < 0 {
		t.Fatalf("no %q after %q", end, start)
	}
	return page[i : i+j+len(end)]
}
