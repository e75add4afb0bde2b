package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// TestCrashRecovery pushes a change, SIGKILLs a real `mainline serve` at
// a random point of webhook → tag → build → deploy, restarts it, and does
// that again, MAINLINE_CRASH_ROUNDS times (default 30). Afterwards the
// system must converge on the last push, and over all rounds: every
// webhook that was acknowledged is stored and processed, no commit has two
// version tags, no version was made desired twice by its tag, and exactly
// the desired containers run.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs containers")
	}
	rounds := 30
	if v := os.Getenv("MAINLINE_CRASH_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	cli := dockertest.Client(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	name := "crash-" + randomHex(4)
	cleanupProject(t, cli, name)
	repo := newSampleRepo(t, dir)
	env := []string{
		"MAINLINE_DATA_DIR=" + filepath.Join(dir, "data"),
		"MAINLINE_ADDR=127.0.0.1:" + freePort(t),
		"MAINLINE_REGISTRY_ADDR=127.0.0.1:" + freePort(t),
		"MAINLINE_WEBHOOK_SECRET=crash-secret",
		"MAINLINE_HEALTH_DEADLINE=20s",
		"MAINLINE_RESYNC=2s",
	}
	addr := strings.TrimPrefix(env[1], "MAINLINE_ADDR=")
	if out, err := runBinary(bin, env, "project", "add", "--git", repo.bare, "--name", name); err != nil {
		t.Fatalf("project add: %v\n%s", err, out)
	}
	srv := &serveProc{t: t, bin: bin, env: env, addr: addr, log: filepath.Join(dir, "serve.log")}
	t.Cleanup(srv.kill)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[string]bool{}
	var heads []string
	for i := range rounds {
		srv.start()
		heads = append(heads, repo.commit(fmt.Sprintf("change %d", i), map[string]string{"round.txt": strconv.Itoa(i)}))
		if id, ok := srv.deliverPush(name, heads[len(heads)-1]); ok {
			acked[id] = true
		}
		// The first round dies right after the delivery is stored;
		// the others somewhere in tag, build or rollout.
		delay := time.Duration(0)
		if i > 0 {
			delay = time.Duration(rng.Int64N(int64(8 * time.Second)))
		}
		time.Sleep(delay)
		srv.kill()
	}
	srv.start()

	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "data", "mainline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	p, err := st.ProjectByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("0.0.%d", len(heads))
	logStateOnFailure(t, st, name, srv.log)
	var last store.Last
	waitFor(t, 8*time.Minute, want+" ×2 running, alone", func() bool {
		last, err = st.Last(ctx, p.ID, "orders")
		return err == nil && len(last.Versions) == 1 && last.Versions[want] == 2
	})

	// No lost webhook: every acknowledged delivery is stored and processed.
	pending, err := st.PendingDeliveries(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("%d deliveries never processed", len(pending))
	}
	for id := range acked {
		if ok, err := st.AddDelivery(ctx, store.Delivery{ID: id, Event: "push", Payload: []byte("{}")}); err != nil || ok {
			t.Errorf("acknowledged delivery %s was not stored (%v)", id, err)
		}
	}
	// No duplicate tag: one version tag per commit, and the last push has
	// the last version.
	tagsBySHA := map[string][]string{}
	for _, line := range strings.Split(repo.git(repo.bare, "for-each-ref", "--format=%(refname:short) %(*objectname)", "refs/tags"), "\n") {
		var tag, sha string
		fmt.Sscan(line, &tag, &sha)
		tagsBySHA[sha] = append(tagsBySHA[sha], tag)
	}
	dupTags := 0
	for sha, tags := range tagsBySHA {
		if len(tags) > 1 {
			dupTags++
			t.Errorf("commit %s has %d tags: %v", short(sha), len(tags), tags)
		}
	}
	if got := tagsBySHA[heads[len(heads)-1]]; len(got) != 1 || got[0] != want {
		t.Errorf("last push tagged %v, want [%s]", got, want)
	}
	// No duplicate deploy: no version was made desired twice by its tag.
	evs, err := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "desired_changed", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	byTag := map[string]int{}
	dupDeploys := 0
	for _, e := range evs {
		if i := strings.Index(e.Message, "set by tag "); i >= 0 {
			v := e.Message[i+len("set by tag "):]
			if byTag[v]++; byTag[v] == 2 {
				dupDeploys++
				t.Errorf("version %s made desired twice by its tag", v)
			}
		}
	}
	// No orphaned container: only the two desired instances run.
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "mainline.project="+name))})
	if err != nil {
		t.Fatal(err)
	}
	orphans := 0
	for _, c := range cs {
		if c.Labels["mainline.version"] != want || c.State != "running" {
			orphans++
		}
	}
	if len(cs) != 2 || orphans != 0 {
		t.Errorf("%d containers (%d not the running %s), want exactly 2", len(cs), orphans, want)
	}
	t.Logf("crash rounds: %d; pushes: %d; webhooks acknowledged: %d, lost: %d; duplicate tags: %d; duplicate deploys: %d; containers: %d, orphaned: %d; versions deployed by tag: %d",
		rounds, len(heads), len(acked), len(pending), dupTags, dupDeploys, len(cs), orphans, len(byTag))
}

// serveProc is a `mainline serve` child process.
type serveProc struct {
	t    *testing.T
	bin  string
	env  []string
	addr string
	log  string
	cmd  *exec.Cmd
}

func (s *serveProc) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	logf.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(s.log)
			s.t.Fatalf("serve did not come up: %v\n%s", err, tail(string(out), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs the server: no shutdown, no clean-up.
func (s *serveProc) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// deliverPush sends a signed push webhook and reports its delivery id and
// whether it was acknowledged.
func (s *serveProc) deliverPush(repo, sha string) (string, bool) {
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"repository": map[string]any{"full_name": repo, "name": repo, "default_branch": "main"},
	})
	id := "crash-" + randomHex(8)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", signBody([]byte("crash-secret"), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return id, false
	}
	resp.Body.Close()
	return id, resp.StatusCode == http.StatusAccepted
}

// buildBinary builds mainline into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "mainline")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBinary(bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
