package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// failoverTTL is the controller lease's TTL in these tests: a dead
// leader's lease expires within it, and the follower tries every TTL/3,
// so it takes over within 4/3 of it — under the 15 s the design asks for.
const failoverTTL = 10 * time.Second

// replicas starts n `mainline serve` processes on one PostgreSQL database,
// each with its own data directory and address, sharing the registry at
// registryAddr. It returns them and the database URL.
func replicas(t *testing.T, dir, bin string, n int, extra ...string) ([]*serveProc, string) {
	t.Helper()
	dbURL := storetest.PostgresURL(t)
	var procs []*serveProc
	for i := range n {
		name := string(rune('a' + i))
		addr := "127.0.0.1:" + freePort(t)
		env := append([]string{
			"MAINLINE_DATABASE_URL=" + dbURL,
			"MAINLINE_DATA_DIR=" + filepath.Join(dir, "data-"+name),
			"MAINLINE_ADDR=" + addr,
			"MAINLINE_WEBHOOK_SECRET=crash-secret", // what deliverPush signs with
			"MAINLINE_LEASE_TTL=" + failoverTTL.String(),
		}, extra...)
		p := &serveProc{t: t, bin: bin, env: env, addr: addr, log: filepath.Join(dir, "serve-"+name+".log")}
		t.Cleanup(p.kill)
		procs = append(procs, p)
	}
	// The first creates the schema; starting them together is fine too,
	// but this keeps the logs of a failed start readable.
	for _, p := range procs {
		p.start()
	}
	return procs, dbURL
}

// role asks a replica's /readyz whether it is the leader or a follower.
func (s *serveProc) role() string {
	resp, err := http.Get("http://" + s.addr + "/readyz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if r, ok := strings.CutPrefix(line, "role "); ok {
			return r
		}
	}
	return ""
}

// leaderOf waits until exactly one of procs says it leads and returns it
// and the others.
func leaderOf(t *testing.T, procs []*serveProc) (*serveProc, []*serveProc) {
	t.Helper()
	var leader *serveProc
	var followers []*serveProc
	waitFor(t, 2*failoverTTL, "one leader among the replicas", func() bool {
		leader, followers = nil, nil
		for _, p := range procs {
			switch p.role() {
			case "leader":
				if leader != nil {
					t.Fatalf("two replicas say they lead: %s and %s", leader.addr, p.addr)
				}
				leader = p
			case "follower":
				followers = append(followers, p)
			}
		}
		return leader != nil && len(followers) == len(procs)-1
	})
	return leader, followers
}

// serveRegistryForTest serves an in-memory OCI registry on loopback for
// every replica to push to and pull from.
func serveRegistryForTest(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// TestFailover runs two replicas of `mainline serve` on one PostgreSQL
// database, deploys a version, and SIGKILLs the leader in the middle of
// the next rollout: the follower must take over within the lease's TTL
// and a renewal interval, and finish that rollout — with no version made
// desired twice and no container left over.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs containers")
	}
	if os.Getenv(storetest.PostgresEnv) == "" {
		t.Skipf("%s is not set", storetest.PostgresEnv)
	}
	cli := dockertest.Client(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	name := "failover-" + randomHex(4)
	cleanupProject(t, cli, name)
	repo := newSampleRepo(t, dir)
	reg := serveRegistryForTest(t)
	procs, dbURL := replicas(t, dir, bin, 2,
		"MAINLINE_REGISTRY="+reg, "MAINLINE_RESYNC=2s", "MAINLINE_HEALTH_DEADLINE=30s")
	if out, err := runBinary(bin, procs[0].env, "project", "add", "--git", repo.bare, "--name", name); err != nil {
		t.Fatalf("project add: %v\n%s", err, out)
	}
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	p, err := st.ProjectByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	running := func(version string) func() bool {
		return func() bool {
			l, err := st.Last(ctx, p.ID, "orders")
			return err == nil && len(l.Versions) == 1 && l.Versions[version] == 2
		}
	}

	leader, followers := leaderOf(t, procs)
	follower := followers[0]
	// Deliver the first push to the follower: it stores it and the
	// leader picks it up from the store.
	sha := repo.commit("first", nil)
	if _, ok := follower.deliverPush(name, sha); !ok {
		t.Fatal("the follower did not accept the first push")
	}
	waitFor(t, 4*time.Minute, "0.0.1 ×2 running", running("0.0.1"))

	sha = repo.commit("second", map[string]string{"main.go": repo.mainGo(`greeting = "hello from 0.0.2"`)})
	if _, ok := leader.deliverPush(name, sha); !ok {
		t.Fatal("the leader did not accept the second push")
	}
	containers := func(version string) int {
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
			filters.Arg("label", "mainline.project="+name), filters.Arg("label", "mainline.version="+version))})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	// Under way: 0.0.2 is desired and the leader has started an instance
	// of it, but the cluster is not there yet.
	waitFor(t, 4*time.Minute, "the rollout of 0.0.2 under way", func() bool {
		d, err := st.Desired(ctx, p.ID, "orders")
		return err == nil && d.Version == "0.0.2" && containers("0.0.2") > 0 && !running("0.0.2")()
	})
	last, _ := st.Last(ctx, p.ID, "orders")
	before, err := st.Lease(ctx, "controller")
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	leader.kill()
	t.Logf("killed the leader mid-rollout (healthy: %v; containers: 0.0.1 ×%d, 0.0.2 ×%d)", last.Versions, containers("0.0.1"), containers("0.0.2"))

	waitFor(t, failoverTTL+failoverTTL/3+2*time.Second, "the follower to take over", func() bool {
		return follower.role() == "leader"
	})
	takeover := time.Since(killed)
	after, err := st.Lease(ctx, "controller")
	if err != nil {
		t.Fatal(err)
	}
	if after.Term <= before.Term || after.Holder == before.Holder {
		t.Errorf("lease after the takeover: %+v; before: %+v; want a new holder at a later term", after, before)
	}
	logStateOnFailure(t, st, name, follower.log)
	waitFor(t, 6*time.Minute, "0.0.2 ×2 running, alone", running("0.0.2"))
	waitFor(t, time.Minute, "0.0.2 verified", func() bool {
		evs, _ := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "verified", Limit: 10})
		for _, e := range evs {
			if strings.HasPrefix(e.Message, "0.0.2 ") {
				return true
			}
		}
		return false
	})
	finished := time.Since(killed)

	// No version made desired twice by its tag, across both leaders.
	evs, err := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: "desired_changed", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byTag := map[string]int{}
	for _, e := range evs {
		if i := strings.Index(e.Message, "set by tag "); i >= 0 {
			byTag[e.Message[i+len("set by tag "):]]++
		}
	}
	for v, n := range byTag {
		if n != 1 {
			t.Errorf("version %s made desired %d times by its tag, want once", v, n)
		}
	}
	// Exactly the desired containers run: none left by the dead leader.
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "mainline.project="+name))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Labels["mainline.version"] != "0.0.2" || c.State != "running" {
			t.Errorf("container %s: version %s, %s; want only running 0.0.2", c.ID[:12], c.Labels["mainline.version"], c.State)
		}
	}
	if len(cs) != 2 {
		t.Errorf("%d containers, want 2", len(cs))
	}
	t.Logf("failover: the follower took over %v after the leader was killed (lease TTL %v; term %d → %d); rollout finished and verified %v after the kill",
		takeover.Round(10*time.Millisecond), failoverTTL, before.Term, after.Term, finished.Round(100*time.Millisecond))
}

// TestFailoverOnSIGTERM: a leader stopped with SIGTERM releases the lease
// as it exits, so the follower takes over at its next try instead of
// waiting for the lease to expire.
func TestFailoverOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mainline serve processes")
	}
	if os.Getenv(storetest.PostgresEnv) == "" {
		t.Skipf("%s is not set", storetest.PostgresEnv)
	}
	dockertest.Client(t) // serve needs a Docker engine to start
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	// A TTL far longer than the follower's retry interval (TTL/3), so a
	// takeover before expiry cannot be luck.
	const ttl = "45s"
	procs, dbURL := replicas(t, dir, bin, 2, "MAINLINE_REGISTRY="+serveRegistryForTest(t), "MAINLINE_LEASE_TTL="+ttl)
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()

	leader, followers := leaderOf(t, procs)
	held, err := st.Lease(ctx, "controller")
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := leader.cmd.Wait(); err != nil {
		t.Errorf("leader exited with %v after SIGTERM, want status 0", err)
	}
	leader.cmd = nil
	released, err := st.Lease(ctx, "controller")
	if err != nil {
		t.Fatal(err)
	}
	if released.Holder == held.Holder {
		t.Errorf("lease after the leader exited: still held by it (%+v)", released)
	}

	waitFor(t, time.Minute, "the follower to take over", func() bool { return followers[0].role() == "leader" })
	taken, err := st.Lease(ctx, "controller")
	if err != nil {
		t.Fatal(err)
	}
	// Both times are the database's: the follower took the lease before
	// the old holding would have expired.
	ttlDur, _ := time.ParseDuration(ttl)
	acquiredAt := taken.ExpiresAt.Add(-ttlDur)
	if taken.Term != held.Term+1 || !acquiredAt.Before(held.ExpiresAt) {
		t.Errorf("lease after the takeover: term %d, taken at %v; want term %d, taken before %v (when the released lease would have expired)",
			taken.Term, acquiredAt, held.Term+1, held.ExpiresAt)
	}
	out, _ := os.ReadFile(leader.log)
	if !strings.Contains(string(out), "released the lease") {
		t.Errorf("the leader's log does not say it released the lease:\n%s", tail(string(out), 20))
	}
	t.Logf("SIGTERM: lease term %d released; the follower took it at term %d, %v before the old lease would have expired",
		held.Term, taken.Term, held.ExpiresAt.Sub(acquiredAt).Round(time.Millisecond))
}

// TestDeadLocalHolder: on SQLite, a lease whose holder is a process of
// this host that no longer runs is taken at once; any other holder is
// waited for.
func TestDeadLocalHolder(t *testing.T) {
	host, _ := os.Hostname()
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Skipf("no true(1): %v", err)
	}
	tests := []struct {
		name, holder string
		want         bool
	}{
		{"an exited process here", fmt.Sprintf("%s/%d/abcd", host, exited.Process.Pid), true},
		{"this process", fmt.Sprintf("%s/%d/abcd", host, os.Getpid()), false},
		{"a running process here", fmt.Sprintf("%s/%d/abcd", host, os.Getppid()), false},
		{"a process on another host", fmt.Sprintf("other-%s/%d/abcd", host, exited.Process.Pid), false},
		{"not a holder name", "someone", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := deadLocalHolder(host, tc.holder); got != tc.want {
				t.Errorf("deadLocalHolder(%q) = %v, want %v", tc.holder, got, tc.want)
			}
		})
	}
}
