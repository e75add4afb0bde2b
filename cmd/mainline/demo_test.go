package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
	"github.com/mainline-cd/mainline/web"
	"github.com/mainline-cd/mainline/webhooks"
)

// TestMain lets the test binary be the mainline binary: the demo copies
// the running executable to DATA/bin/mainline for its git hook, and under
// `go test` that executable is this test binary. Started under that name
// (by the hook of TestDemo's repository) it runs the CLI, as cmd/go's
// tests do with their testgo binary.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "mainline" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestDemo drives `mainline demo` as a user would: start it, wait for
// 0.0.1, change the greeting in the clone, commit and git push (through
// the real post-receive hook and a signed webhook), watch 0.0.2 roll out
// with no failed request and get verified, run `mainline deps run` as the
// demo says to and see the upgrade of example.com/greeting merged and
// deployed as 0.0.3, pull, push a version that fails its health checks
// and see it rolled back, then stop the demo and find none of its
// containers left.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs containers")
	}
	cli := dockertest.Client(t)
	// No git identity anywhere but what the demo sets in its clone.
	emptyConfig := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(emptyConfig, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", emptyConfig)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	// A module cache of the test's own: dependents day downloads the demo
	// proxy's module, which has no business in the machine's cache.
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOFLAGS", "-modcacherw -buildvcs=false")

	run := "demo-" + randomHex(4)
	data := filepath.Join(t.TempDir(), "mainline-demo")
	cleanupDemo(t, cli, data, run)
	env := map[string]string{"MAINLINE_DEMO_LABELS": "mainline.test=1,mainline.test.run=" + run}
	d := startDemo(t, env, "--dir", data, "--addr", freeAddr(t))

	d.waitOutput(4*time.Minute, "The demo is running.")
	st := openDemoStore(t, data)
	p, err := st.ProjectByName(context.Background(), demoProject)
	if err != nil {
		t.Fatal(err)
	}
	if got := waitVerified(t, st, p.ID, "0.0.1", 2); got != "passed" {
		t.Fatalf("verification of 0.0.1: %s, want passed", got)
	}
	out := d.out.String()
	for _, want := range []string{"building orders 0.0.1…", "deploying 0.0.1 (", "0.0.1 is live ×2 and verified",
		"Change the greeting", "healthy = false", "Run dependents day now"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	clone := d.field("your clone")
	if want := filepath.Join(data, "orders"); clone != want {
		t.Errorf("clone printed as %q, want %q", clone, want)
	}
	checkToken(t, st, d.field("admin token"), filepath.Join(data, "admin-token"))
	service := strings.TrimSuffix(d.field("service"), "/")

	// A change: tagged, built, rolled out under load, verified.
	load := startLoad(t, service)
	pushed := d.push(clone, "New greeting", `greeting = "hello from the demo test"`)
	if !strings.Contains(pushed, "delivered (202 Accepted)") {
		t.Errorf("git push output = %q, want the hook to say the webhook was delivered (202 Accepted)", pushed)
	}
	if got := waitVerified(t, st, p.ID, "0.0.2", 2); got != "passed" {
		t.Fatalf("verification of 0.0.2: %s, want passed", got)
	}
	after := time.Now()
	time.Sleep(300 * time.Millisecond)
	res := load.stop()
	t.Logf("load during 0.0.1 → 0.0.2: %d requests, %d failed", res.total, res.failed)
	if res.total == 0 || res.failed != 0 {
		t.Errorf("%d of %d requests failed during the rollout: %v", res.failed, res.total, res.firstErr)
	}
	if v := res.versionsAfter(after); len(v) != 1 || v["0.0.2"] == 0 {
		t.Errorf("versions answering after the rollout: %v, want only 0.0.2", v)
	}
	if got := eventMessages(t, st, p.ID, "tagged"); !slices.ContainsFunc(got, func(m string) bool { return strings.HasSuffix(m, " 0.0.2") }) {
		t.Errorf("tagged events = %q, want one for 0.0.2", got)
	}
	d.waitOutput(time.Minute, "0.0.2 is live ×2 and verified")
	dashboard := d.field("dashboard")
	if page := get(t, dashboard); !strings.Contains(page, "orders") || !strings.Contains(page, "0.0.2") {
		t.Errorf("the dashboard at %s does not show orders at 0.0.2:\n%s", dashboard, page)
	}

	// Dependents day, run as the demo says: the upgrade of
	// example.com/greeting is opened, checked and merged, the merge
	// reaches the server through the hook, and deploys as 0.0.3.
	deps := d.depsRun()
	for _, want := range []string{
		`  orders: post-receive hook: mainline: push of main `,
		`  orders: opened #1 "Upgrade 1 dependency"`,
		"checks success; merged as ",
		"      example.com/greeting v1.0.0 → v1.1.0 (minor)\n",
	} {
		if !strings.Contains(deps, want) {
			t.Errorf("deps run output lacks %q:\n%s", want, deps)
		}
	}
	if got := waitVerified(t, st, p.ID, "0.0.3", 2); got != "passed" {
		t.Fatalf("verification of 0.0.3: %s, want passed", got)
	}
	bare := filepath.Join(data, "orders.git")
	for file, want := range map[string]string{"go.mod": "example.com/greeting v1.1.0", "vendor/modules.txt": "# example.com/greeting v1.1.0\n"} {
		if got := gitOut(t, bare, "show", "0.0.3:"+file); !strings.Contains(got+"\n", want) {
			t.Errorf("%s at 0.0.3 lacks %q:\n%s", file, want, got)
		}
	}
	// v1.1.0 of the module ends the greeting with "!": the running build
	// has the upgrade.
	var root struct{ Message, Version string }
	if err := json.Unmarshal([]byte(get(t, service+"/")), &root); err != nil {
		t.Fatal(err)
	}
	if want := "hello from the demo test!"; root.Message != want || root.Version != "0.0.3" {
		t.Errorf("GET / = %+v, want message %q from 0.0.3", root, want)
	}
	if again := d.depsRun(); !strings.Contains(again, "  orders: nothing to upgrade\n") || strings.Contains(again, "post-receive") {
		t.Errorf("second deps run: want nothing to upgrade and no hook run, got\n%s", again)
	}
	d.waitOutput(time.Minute, "0.0.3 is live ×2 and verified")
	gitOut(t, clone, "pull", "-q", "--ff-only")

	// A version that fails its health checks: rolled back to 0.0.3.
	d.push(clone, "Break the health check", `healthy  = false`)
	waitFor(t, 3*time.Minute, "0.0.4 rolled back", func() bool { return len(eventMessages(t, st, p.ID, "rolled_back")) > 0 })
	if got, want := eventMessages(t, st, p.ID, "rolled_back")[0], "0.0.4 failed health checks; rolled back to 0.0.3"; got != want {
		t.Errorf("rollback event = %q, want %q", got, want)
	}
	dstate, err := st.Desired(context.Background(), p.ID, demoBuild)
	if err != nil {
		t.Fatal(err)
	}
	if dstate.Version != "0.0.3" || dstate.Instances != 2 || dstate.SetBy != "rollback" {
		t.Errorf("desired after the rollback = %s ×%d by %q, want 0.0.3 ×2 by rollback", dstate.Version, dstate.Instances, dstate.SetBy)
	}
	d.waitOutput(time.Minute, "! 0.0.4 failed health checks; rolled back to 0.0.3")

	// Ctrl-C: nothing of the demo's is left running.
	id := demoID(t, data)
	if n := countContainers(t, cli, demoLabel+"="+id); n == 0 {
		t.Errorf("no container labelled %s=%s while the demo runs; the clean-up check below would prove nothing", demoLabel, id)
	}
	if err := d.stop(); err != nil {
		t.Errorf("demo returned %v, want nil after Ctrl-C", err)
	}
	if n := countContainers(t, cli, demoLabel+"="+id); n != 0 {
		t.Errorf("%d containers labelled %s=%s are left after the demo stopped", n, demoLabel, id)
	}
	if !regexp.MustCompile(`stopped .*\d+ containers of orders, the proxy on ` + regexp.QuoteMeta(service)).MatchString(d.out.String()) {
		t.Errorf("output does not say what was stopped:\n%s", lastLines(d.out.String(), 5))
	}
	if resp, err := http.Get(service + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("the service's proxy %s still answers after the demo stopped", service)
	}
}

// TestDemoRerun starts the demo on a data directory an earlier run
// prepared and checks it is reused: same repository, clone, secret and
// token, and the same project in the store.
func TestDemoRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo against Docker")
	}
	cli := dockertest.Client(t)
	run := "demo-" + randomHex(4)
	data := filepath.Join(t.TempDir(), "mainline-demo")
	cleanupDemo(t, cli, data, run)
	env := map[string]string{"MAINLINE_DEMO_LABELS": "mainline.test=1,mainline.test.run=" + run}

	first := startDemo(t, env, "--dir", data, "--addr", freeAddr(t))
	first.waitOutput(4*time.Minute, "The demo is running.")
	token := first.field("admin token")
	secret, err := os.ReadFile(filepath.Join(data, "webhook-secret"))
	if err != nil {
		t.Fatal(err)
	}
	head := gitOut(t, filepath.Join(data, "orders"), "rev-parse", "HEAD")
	if err := first.stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}

	second := startDemo(t, env, "--dir", data, "--addr", freeAddr(t))
	second.waitOutput(4*time.Minute, "The demo is running.")
	out := second.out.String()
	if strings.Contains(out, "created the orders service's repository") {
		t.Errorf("second run created the repository again:\n%s", out)
	}
	if got := second.field("admin token"); got != token {
		t.Errorf("second run's token differs from the first's")
	}
	if again, _ := os.ReadFile(filepath.Join(data, "webhook-secret")); !bytes.Equal(again, secret) {
		t.Errorf("second run replaced the webhook secret")
	}
	if got := gitOut(t, filepath.Join(data, "orders"), "rev-parse", "HEAD"); got != head {
		t.Errorf("clone HEAD = %s after the second run, want %s", got, head)
	}
	if !strings.Contains(out, "0.0.1 is live ×2 and verified") {
		t.Errorf("second run does not show 0.0.1 live again:\n%s", out)
	}
	if err := second.stop(); err != nil {
		t.Fatalf("second run: %v", err)
	}

	// --reset removes the directory and the images, and starts clean.
	third := startDemo(t, env, "--dir", data, "--addr", freeAddr(t), "--reset")
	third.waitOutput(4*time.Minute, "The demo is running.")
	out = third.out.String()
	if !regexp.MustCompile(`reset: removed 0 containers, [1-9]\d* images? and ` + regexp.QuoteMeta(data)).MatchString(out) {
		t.Errorf("--reset output does not say what it removed:\n%s", out)
	}
	if !strings.Contains(out, "created the orders service's repository") {
		t.Errorf("--reset did not start from a new repository:\n%s", out)
	}
	if got := third.field("admin token"); got == token {
		t.Errorf("--reset kept the old admin token")
	}
	if err := third.stop(); err != nil {
		t.Fatalf("third run: %v", err)
	}
}

// TestDemoWithoutTools checks that without a reachable Docker Engine, or
// without go and git on PATH, the demo says so in one line, exits 1, and
// creates nothing.
func TestDemoWithoutTools(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the socket file stays; nothing answers on it

	tests := []struct {
		name string
		env  map[string]string
		want string
		// needsDocker: the tool check comes after the Docker check.
		needsDocker bool
	}{
		{
			name: "no docker",
			env:  map[string]string{"DOCKER_HOST": "unix://" + sock},
			want: "mainline demo: the Docker Engine is not reachable at unix://" + sock + " — start Docker and try again\n",
		},
		{
			name:        "no go or git",
			env:         map[string]string{"PATH": t.TempDir()},
			want:        "mainline demo: go is not on PATH; the demo needs it to build the sample service — install it and try again\n",
			needsDocker: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needsDocker {
				dockertest.Client(t)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			data := filepath.Join(t.TempDir(), "mainline-demo")
			root := newRootCmd(func(string) string { return "" })
			var stdout, stderr bytes.Buffer
			root.SetOut(&stdout)
			root.SetErr(&stderr)
			root.SetArgs([]string{"demo", "--dir", data, "--addr", freeAddr(t)})
			err := root.ExecuteContext(context.Background())
			var ec exitCode
			if !errors.As(err, &ec) || ec != 1 {
				t.Errorf("err = %v, want exit code 1", err)
			}
			if got := stdout.String() + stderr.String(); got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the data directory was created (stat: %v)", err)
			}
		})
	}
}

// TestDemoHook runs `mainline demo hook` as the post-receive hook would,
// against the real webhook receiver, for a new branch, an update of main
// and a deletion: each delivery must be signed with the demo's secret,
// parse with webhooks.Summarize, be accepted, and wake the project for a
// branch update.
func TestDemoHook(t *testing.T) {
	dir := t.TempDir()
	repo := newSampleRepo(t, dir)
	first := repo.commit("Add the orders service", nil)
	second := repo.commit("Change the greeting", map[string]string{"main.go": repo.mainGo(`greeting = "hi"`)})
	third := repo.commit("And again", map[string]string{"main.go": repo.mainGo(`greeting = "hi again"`)})

	secret := []byte("demo-secret")
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("../../../shared/fixtures/github-webhooks/push/with-new-branch.payload.json")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		line        string
		wantBranch  string
		wantSHA     string
		wantDeleted bool
		wantCommits []string
		wantWake    bool
	}{
		{"new branch", zeroRev + " " + first + " refs/heads/feature", "feature", first, false, []string{first}, true},
		{"update main", first + " " + third + " refs/heads/main", "main", third, false, []string{second, third}, true},
		{"delete branch", first + " " + zeroRev + " refs/heads/feature", "feature", zeroRev, true, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu   sync.Mutex
				reqs []capturedRequest
			)
			waker := &recordingWaker{}
			h := &webhooks.Handler{Secrets: [][]byte{secret}, Store: storetest.SQLite(t), Waker: waker}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := readAll(r)
				mu.Lock()
				reqs = append(reqs, capturedRequest{header: r.Header.Clone(), body: body})
				mu.Unlock()
				r.Body = readCloser(body)
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()

			root := newRootCmd(func(string) string { return "" })
			var stdout, stderr bytes.Buffer
			root.SetOut(&stdout)
			root.SetErr(&stderr)
			root.SetIn(strings.NewReader(tt.line + "\n"))
			root.SetArgs([]string{"demo", "hook", "--url", srv.URL + "/webhooks/github", "--secret-file", secretFile, "--repo", "orders", "--git-dir", repo.bare})
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("hook: %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "delivered (202 Accepted)") {
				t.Errorf("hook output = %q, want it to say the delivery was accepted", stderr.String())
			}
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			req := reqs[0]
			if err := github.ValidateSignature(req.header.Get(github.SHA256SignatureHeader), req.body, secret); err != nil {
				t.Errorf("signature: %v", err)
			}
			if got := req.header.Get(github.EventTypeHeader); got != "push" {
				t.Errorf("%s = %q, want push", github.EventTypeHeader, got)
			}
			if got := req.header.Get(github.DeliveryIDHeader); !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(got) {
				t.Errorf("%s = %q, want a random UUID", github.DeliveryIDHeader, got)
			}
			sum, err := webhooks.Summarize("push", req.body)
			if err != nil {
				t.Fatalf("Summarize: %v\n%s", err, req.body)
			}
			want := webhooks.Summary{Event: "push", Repo: "orders", Ref: "refs/heads/" + tt.wantBranch, Branch: tt.wantBranch, SHA: tt.wantSHA, Deleted: tt.wantDeleted}
			if sum != want {
				t.Errorf("Summarize = %+v, want %+v", sum, want)
			}
			if got, want := waker.names(), wakeWant(tt.wantWake); !slices.Equal(got, want) {
				t.Errorf("woke %q, want %q", got, want)
			}
			checkPushShape(t, req.body, fixture, tt.wantCommits)
		})
	}
}

// checkPushShape checks that every key of the hook's payload is a key
// GitHub sends (compared with a real payload), and the commits listed.
func checkPushShape(t *testing.T, body, fixture []byte, wantCommits []string) {
	t.Helper()
	var got, real map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(fixture, &real); err != nil {
		t.Fatal(err)
	}
	for _, path := range missingKeys("", got, real) {
		t.Errorf("payload key %s is not in GitHub's push payload", path)
	}
	var ev github.PushEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range ev.Commits {
		ids = append(ids, c.GetID())
	}
	if !slices.Equal(ids, wantCommits) {
		t.Errorf("commits = %q, want %q", ids, wantCommits)
	}
	if len(wantCommits) == 0 {
		if ev.HeadCommit != nil {
			t.Errorf("head_commit = %+v, want null for a deletion", ev.HeadCommit)
		}
		return
	}
	hc := ev.GetHeadCommit()
	if hc.GetID() != wantCommits[len(wantCommits)-1] || hc.GetMessage() == "" || hc.Timestamp == nil || hc.GetAuthor().GetName() != "Dev" {
		t.Errorf("head_commit = id %s message %q timestamp %v author %q, want the pushed commit's", hc.GetID(), hc.GetMessage(), hc.Timestamp, hc.GetAuthor().GetName())
	}
	if ev.GetRepo().GetDefaultBranch() != "main" || ev.GetPusher().GetName() == "" {
		t.Errorf("repository.default_branch = %q, pusher.name = %q, want main and a name", ev.GetRepo().GetDefaultBranch(), ev.GetPusher().GetName())
	}
}

// missingKeys lists the keys of got (recursively, through the first
// element of arrays) that real does not have.
func missingKeys(prefix string, got, real map[string]any) []string {
	var out []string
	for k, v := range got {
		rv, ok := real[k]
		if !ok {
			out = append(out, prefix+k)
			continue
		}
		if gm, ok := v.(map[string]any); ok {
			if rm, ok := rv.(map[string]any); ok {
				out = append(out, missingKeys(prefix+k+".", gm, rm)...)
			}
		}
		if ga, ok := v.([]any); ok && len(ga) > 0 {
			ra, _ := rv.([]any)
			gm, ok1 := ga[0].(map[string]any)
			if len(ra) > 0 && ok1 {
				if rm, ok := ra[0].(map[string]any); ok {
					out = append(out, missingKeys(prefix+k+"[].", gm, rm)...)
				}
			}
		}
	}
	return out
}

func wakeWant(wake bool) []string {
	if wake {
		return []string{"orders"}
	}
	return nil
}

type capturedRequest struct {
	header http.Header
	body   []byte
}

type recordingWaker struct {
	mu    sync.Mutex
	woken []string
}

func (w *recordingWaker) WakeRepository(_ context.Context, name string) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.woken = append(w.woken, name)
	return 1, nil
}

func (w *recordingWaker) names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.woken)
}

var _ webhooks.Waker = (*recordingWaker)(nil)

func readAll(r *http.Request) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r.Body)
	return b.Bytes(), err
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func readCloser(b []byte) nopCloser { return nopCloser{bytes.NewReader(b)} }

// runningDemo is `mainline demo` running in-process.
type runningDemo struct {
	t      *testing.T
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	err    error
	exited bool
}

// startDemo runs `mainline demo args…` with the environment env until
// stop is called or the test ends.
func startDemo(t *testing.T, env map[string]string, args ...string) *runningDemo {
	t.Helper()
	root := newRootCmd(func(k string) string { return env[k] })
	d := &runningDemo{t: t, out: &syncBuffer{}, done: make(chan error, 1)}
	root.SetOut(d.out)
	root.SetErr(d.out)
	root.SetArgs(append([]string{"demo"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("demo: %v", err)
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", d.out.String())
		}
	})
	return d
}

// stop cancels the demo's context, as Ctrl-C does, and waits for it.
func (d *runningDemo) stop() error {
	if d.exited {
		return d.err
	}
	d.cancel()
	select {
	case d.err = <-d.done:
	case <-time.After(2 * time.Minute):
		d.err = errors.New("the demo did not stop within 2 minutes")
	}
	d.exited = true
	return d.err
}

// waitOutput waits until the demo has printed want.
func (d *runningDemo) waitOutput(limit time.Duration, want string) {
	d.t.Helper()
	waitFor(d.t, limit, fmt.Sprintf("the demo to print %q", want), func() bool {
		if !d.exited {
			select {
			case d.err = <-d.done:
				d.exited = true
				d.t.Fatalf("the demo stopped early: %v\n%s", d.err, d.out.String())
			default:
			}
		}
		return strings.Contains(d.out.String(), want)
	})
}

// field returns the value the welcome message prints after "name:".
func (d *runningDemo) field(name string) string {
	d.t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `:\s+(\S+)`).FindStringSubmatch(d.out.String())
	if m == nil {
		d.t.Fatalf("the demo printed no %q:\n%s", name, d.out.String())
	}
	return m[1]
}

// depsRun runs, in-process, the `mainline deps run` command the welcome
// message prints, with the environment it prints (MAINLINE_* through the
// command's getenv, the rest — for the go tool — in the process), and
// returns its output.
func (d *runningDemo) depsRun() string {
	d.t.Helper()
	m := regexp.MustCompile(`(?m)^ +((?:[A-Z_]+='[^']*' )+)\\\n +'([^']+)' deps run$`).FindStringSubmatch(d.out.String())
	if m == nil {
		d.t.Fatalf("the demo printed no deps run command:\n%s", d.out.String())
	}
	if _, err := os.Stat(m[2]); err != nil {
		d.t.Errorf("the printed mainline binary: %v", err)
	}
	env := map[string]string{}
	for _, kv := range regexp.MustCompile(`([A-Z_]+)='([^']*)'`).FindAllStringSubmatch(m[1], -1) {
		if strings.HasPrefix(kv[1], "MAINLINE_") {
			env[kv[1]] = kv[2]
		} else {
			d.t.Setenv(kv[1], kv[2])
		}
	}
	root := newRootCmd(func(k string) string { return env[k] })
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"deps", "run"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		d.t.Fatalf("deps run: %v\n%s%s", err, out.String(), errOut.String())
	}
	if errOut.Len() > 0 {
		d.t.Logf("deps run stderr:\n%s", errOut.String())
	}
	return out.String()
}

// push changes one line of main.go in the clone, commits it and runs
// git push as a user would, and returns git's output (which includes the
// hook's).
func (d *runningDemo) push(clone, msg, line string) string {
	d.t.Helper()
	main := (&sampleRepo{t: d.t}).mainGo(line)
	if err := os.WriteFile(filepath.Join(clone, "main.go"), []byte(main), 0o644); err != nil {
		d.t.Fatal(err)
	}
	gitOut(d.t, clone, "commit", "-q", "-am", msg)
	if got, want := gitOut(d.t, clone, "log", "-1", "--format=%an <%ae>"), "Mainline Demo <demo@localhost>"; got != want {
		d.t.Errorf("commit author in the clone = %q, want %q (the demo's identity, as the user has none)", got, want)
	}
	return gitOut(d.t, clone, "push")
}

// gitOut runs git in dir with the test's environment.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func openDemoStore(t *testing.T, data string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(data, "mainline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// waitVerified waits until version runs ×n alone and its rollout
// verification has finished, and returns its status.
func waitVerified(t *testing.T, st store.Store, projectID int64, version string, n int) string {
	t.Helper()
	return waitVerifiedWithin(t, 4*time.Minute, st, projectID, version, n)
}

// waitVerifiedWithin is waitVerified with its own time limit.
func waitVerifiedWithin(t *testing.T, limit time.Duration, st store.Store, projectID int64, version string, n int) string {
	t.Helper()
	ctx := context.Background()
	var status string
	waitFor(t, limit, fmt.Sprintf("%s ×%d running and verified", version, n), func() bool {
		l, err := st.Last(ctx, projectID, demoBuild)
		if err != nil || len(l.Versions) != 1 || l.Versions[version] != n {
			return false
		}
		runs, err := st.VerifyRuns(ctx, projectID, 10)
		if err != nil {
			return false
		}
		for _, r := range runs {
			if r.Version == version && r.Status != "running" {
				status = r.Status
				return true
			}
		}
		return false
	})
	return status
}

func eventMessages(t *testing.T, st store.Store, projectID int64, kind string) []string {
	t.Helper()
	evs, err := st.Events(context.Background(), store.EventQuery{ProjectID: projectID, Kind: kind, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Message)
	}
	return out
}

// checkToken checks the printed admin token is the one in the 0600 file
// and that the store holds its hash.
func checkToken(t *testing.T, st store.Store, printed, file string) {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", file, fi.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	if strings.TrimSpace(string(data)) != printed || !strings.HasPrefix(printed, "mlt_") {
		t.Errorf("printed token is not the one in %s", file)
	}
	tok, err := st.TokenByHash(context.Background(), web.HashToken(printed))
	if err != nil {
		t.Fatalf("the admin token's hash is not in the store: %v", err)
	}
	if tok.Name != demoTokenName {
		t.Errorf("token name = %q, want %q", tok.Name, demoTokenName)
	}
}

func demoID(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s demoState
	if err := json.Unmarshal(b, &s); err != nil || s.ID == "" {
		t.Fatalf("demo.json: %v (%s)", err, b)
	}
	return s.ID
}

func countContainers(t *testing.T, cli *client.Client, label string) int {
	t.Helper()
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// cleanupDemo removes, when the test ends, every container labelled for
// this test run and every image the demo in data built.
func cleanupDemo(t *testing.T, cli *client.Client, data, run string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f := filters.NewArgs(filters.Arg("label", "mainline.test.run="+run))
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Errorf("list containers: %v", err)
		}
		for _, c := range cs {
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
				t.Errorf("remove container: %v", err)
			}
		}
		b, err := os.ReadFile(filepath.Join(data, "demo.json"))
		if err != nil {
			return // the demo never started
		}
		var s demoState
		if json.Unmarshal(b, &s) == nil && s.Registry != "" {
			if _, err := removeImages(ctx, cli, s.Registry+"/"+demoProject+"/"); err != nil {
				t.Errorf("remove images: %v", err)
			}
		}
	})
}

// get returns the body of a 200 answer to GET url.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return b.String()
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// syncBuffer is a bytes.Buffer safe for the demo's writes and the test's
// reads at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
