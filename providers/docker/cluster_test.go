package docker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// fastHealth checks often so that tests do not wait long; the thresholds
// are the defaults.
var fastHealth = docker.HealthConfig{Interval: 100 * time.Millisecond, StartDeadline: 30 * time.Second}

// testCluster is what every Cluster test needs: a client, labels unique to
// the test (removed at the end) and a way to make Clusters.
type testCluster struct {
	cli    *client.Client
	labels map[string]string
}

func newTestCluster(t testing.TB) *testCluster {
	t.Helper()
	cli := dockertest.Client(t)
	labels := dockertest.Labels(t)
	dockertest.Cleanup(t, cli, dockertest.RunLabel(labels))
	return &testCluster{cli: cli, labels: labels}
}

// cluster returns a new Cluster value on the test's labels, closed at the
// end of the test; cfg's Client and Labels are filled in.
func (tc *testCluster) cluster(t testing.TB, cfg docker.ClusterConfig) *docker.Cluster {
	t.Helper()
	cfg.Client, cfg.Labels = tc.cli, tc.labels
	if _, bench := t.(*testing.B); !bench { // benchmark output is for figures
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	if cfg.Health == (docker.HealthConfig{}) {
		cfg.Health = fastHealth
	}
	c, err := docker.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func sampleSpec(project, version, image string) providers.InstanceSpec {
	return providers.InstanceSpec{
		Project:       project,
		Build:         "api",
		Version:       version,
		Image:         image,
		Port:          dockertest.SamplePort,
		HealthPath:    dockertest.SampleHealthPath,
		HealthTimeout: time.Second,
	}
}

func start(t testing.TB, c *docker.Cluster, spec providers.InstanceSpec) providers.Instance {
	t.Helper()
	inst, err := c.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start %s: %v", spec.Version, err)
	}
	return inst
}

// waitFor polls cond until it holds. The bound only keeps a broken test
// from hanging; nothing is asserted about how long it took.
func waitFor(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// states returns the instances of project/api as id → state.
func states(t testing.TB, c *docker.Cluster, project string) map[string]providers.InstanceState {
	t.Helper()
	list, err := c.Instances(context.Background(), project, "api")
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	m := make(map[string]providers.InstanceState, len(list))
	for _, i := range list {
		m[i.ID] = i.State
	}
	return m
}

// waitStates waits until Instances reports exactly want.
func waitStates(t testing.TB, c *docker.Cluster, project string, want map[string]providers.InstanceState) {
	t.Helper()
	var got map[string]providers.InstanceState
	waitFor(t, fmt.Sprintf("instances %v", want), func() (bool, error) {
		got = states(t, c, project)
		return fmt.Sprint(got) == fmt.Sprint(want), nil
	})
}

func get(url string) (string, int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), resp.StatusCode, err
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestClusterInstancesSurviveRestart: two instances become healthy and
// serve through the proxy; a new Cluster value (a restarted controller)
// reads them back from Docker by label, checks them again and serves them
// on the same endpoint.
func TestClusterInstancesSurviveRestart(t *testing.T) {
	tc := newTestCluster(t)
	img := dockertest.SampleImage(t, tc.cli, dockertest.SampleOptions{Version: "0.0.1"})
	port := freePort(t)
	ports := func(project, build string) int {
		if project == "shop" && build == "api" {
			return port
		}
		return 0
	}
	ctx := context.Background()

	first := tc.cluster(t, docker.ClusterConfig{ProxyPorts: ports})
	a := start(t, first, sampleSpec("shop", "0.0.1", img))
	b := start(t, first, sampleSpec("shop", "0.0.1", img))
	for _, inst := range []providers.Instance{a, b} {
		if inst.State != providers.InstanceStarting || inst.Project != "shop" || inst.Build != "api" || inst.Version != "0.0.1" || inst.StartedAt.IsZero() {
			t.Errorf("Start returned %+v, want a starting shop/api@0.0.1 with a start time", inst)
		}
	}
	healthy := map[string]providers.InstanceState{a.ID: providers.InstanceHealthy, b.ID: providers.InstanceHealthy}
	waitStates(t, first, "shop", healthy)

	endpoint, err := first.Endpoint(ctx, "shop", "api")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", port); endpoint != want {
		t.Errorf("Endpoint = %s, want %s (from ProxyPorts)", endpoint, want)
	}
	if body, code, err := get(endpoint + "/"); err != nil || code != 200 || body != "0.0.1" {
		t.Errorf("GET through the proxy = %d %q %v, want 200 0.0.1", code, body, err)
	}

	info, err := tc.cli.ContainerInspect(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		docker.LabelProject: "shop", docker.LabelBuild: "api", docker.LabelVersion: "0.0.1", docker.LabelManaged: "true",
		dockertest.TestLabel: "1",
	} {
		if got := info.Config.Labels[k]; got != want {
			t.Errorf("container label %s = %q, want %q", k, got, want)
		}
	}
	if got := info.HostConfig.RestartPolicy.Name; got != "no" {
		t.Errorf("restart policy %q, want no", got)
	}
	for _, binding := range info.HostConfig.PortBindings {
		for _, pb := range binding {
			if pb.HostIP != "127.0.0.1" {
				t.Errorf("port published on %q, want 127.0.0.1 only", pb.HostIP)
			}
		}
	}

	// "Restart" the controller: the old Cluster value goes, a new one
	// knows nothing but what Docker says.
	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := first.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	second := tc.cluster(t, docker.ClusterConfig{ProxyPorts: ports})
	list, err := second.Instances(ctx, "shop", "api")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inst := range list {
		ids = append(ids, inst.ID)
		if inst.Version != "0.0.1" || inst.Project != "shop" || inst.Build != "api" {
			t.Errorf("after restart: %+v, want shop/api@0.0.1", inst)
		}
		// Adopted containers that pass one check serve again at once: a
		// restart must not make a healthy version look new.
		if inst.State != providers.InstanceHealthy {
			t.Errorf("after restart: %s is %s, want healthy after its adoption check", inst.ID[:12], inst.State)
		}
	}
	if want := []string{a.ID, b.ID}; !sameSet(ids, want) {
		t.Errorf("after restart, Instances = %v, want %v", ids, want)
	}
	endpoint2, err := second.Endpoint(ctx, "shop", "api")
	if err != nil {
		t.Fatal(err)
	}
	if endpoint2 != endpoint {
		t.Errorf("endpoint after restart %s, want the same %s", endpoint2, endpoint)
	}
	if body, code, err := get(endpoint2 + "/"); err != nil || code != 200 || body != "0.0.1" {
		t.Errorf("GET after restart = %d %q %v, want 200 0.0.1", code, body, err)
	}

	// A Cluster with other labels does not see these containers.
	other, err := docker.NewCluster(docker.ClusterConfig{Client: tc.cli, Labels: map[string]string{dockertest.TestLabel: "1", "mainline.test.run": "someone-else"}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if got, err := other.Instances(ctx, "shop", "api"); err != nil || len(got) != 0 {
		t.Errorf("a Cluster with other labels sees %d instances (%v), want none", len(got), err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestClusterUnhealthyNeverServes: an instance whose health check fails
// never gets traffic and becomes unhealthy at its start deadline; a
// container that exits is unhealthy, and with no healthy instance the
// proxy answers 503.
func TestClusterUnhealthyNeverServes(t *testing.T) {
	tc := newTestCluster(t)
	good := dockertest.SampleImage(t, tc.cli, dockertest.SampleOptions{Version: "0.0.1"})
	bad := dockertest.SampleImage(t, tc.cli, dockertest.SampleOptions{Version: "0.0.2", Unhealthy: true})
	health := fastHealth
	health.StartDeadline = 2 * time.Second
	c := tc.cluster(t, docker.ClusterConfig{Health: health})
	ctx := context.Background()

	ok := start(t, c, sampleSpec("shop", "0.0.1", good))
	sick := start(t, c, sampleSpec("shop", "0.0.2", bad))
	endpoint, err := c.Endpoint(ctx, "shop", "api")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the good instance to become healthy", func() (bool, error) {
		st := states(t, c, "shop")
		if st[sick.ID] == providers.InstanceHealthy {
			return false, fmt.Errorf("the failing instance is healthy")
		}
		return st[ok.ID] == providers.InstanceHealthy, nil
	})

	// Until the bad instance is declared unhealthy, and after, every
	// answer comes from the good one.
	served := map[string]int{}
	waitFor(t, "the failing instance to become unhealthy", func() (bool, error) {
		body, code, err := get(endpoint + "/")
		if err != nil {
			return false, err
		}
		served[fmt.Sprintf("%d %s", code, body)]++
		return states(t, c, "shop")[sick.ID] == providers.InstanceUnhealthy, nil
	})
	for range 20 {
		body, code, err := get(endpoint + "/")
		if err != nil {
			t.Fatal(err)
		}
		served[fmt.Sprintf("%d %s", code, body)]++
	}
	if len(served) != 1 || served["200 0.0.1"] == 0 {
		t.Errorf("answers through the proxy: %v, want only 200 0.0.1", served)
	}
	p, err := c.Proxy("shop", "api")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Backends(); !slices.Equal(got, []string{ok.ID}) {
		t.Errorf("proxy backends %v, want only the healthy %s", got, ok.ID[:12])
	}

	// The good container exits behind the cluster's back.
	if err := tc.cli.ContainerKill(ctx, ok.ID, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed container to be reported unhealthy", func() (bool, error) {
		return states(t, c, "shop")[ok.ID] == providers.InstanceUnhealthy, nil
	})
	body, code, err := get(endpoint + "/")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "no healthy instance of shop/api") {
		t.Errorf("with no healthy instance: %d %q, want 503 saying no healthy instance of shop/api", code, body)
	}

	// Stopping an exited container and a gone one are not errors.
	for _, id := range []string{ok.ID, ok.ID, "0123456789ab"} {
		if err := c.Stop(ctx, id); err != nil {
			t.Errorf("Stop %s: %v", id[:12], err)
		}
	}
	if got := states(t, c, "shop"); len(got) != 1 || got[sick.ID] != providers.InstanceUnhealthy {
		t.Errorf("after stopping the exited one: %v, want only %s unhealthy", got, sick.ID[:12])
	}
}

// TestClusterStopDrains: a slow request in flight when Stop is called is
// answered before the instance is stopped, even though this instance exits
// at once on SIGTERM.
func TestClusterStopDrains(t *testing.T) {
	tc := newTestCluster(t)
	img := dockertest.SampleImage(t, tc.cli, dockertest.SampleOptions{Version: "0.0.1"})
	c := tc.cluster(t, docker.ClusterConfig{})
	ctx := context.Background()
	spec := sampleSpec("shop", "0.0.1", img)
	spec.Env = map[string]string{"SAMPLE_EXIT_ON_TERM": "true"}
	inst := start(t, c, spec)
	waitStates(t, c, "shop", map[string]providers.InstanceState{inst.ID: providers.InstanceHealthy})
	endpoint, err := c.Endpoint(ctx, "shop", "api")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Proxy("shop", "api")
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		body string
		code int
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		body, code, err := get(endpoint + "/?sleep=1s")
		slow <- result{body, code, err}
	}()
	waitFor(t, "the slow request to reach the instance", func() (bool, error) { return p.InFlight(inst.ID) == 1, nil })

	if err := c.Stop(ctx, inst.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Without the drain, SIGTERM would have dropped it.
	if r := <-slow; r.err != nil || r.code != 200 || r.body != "0.0.1" {
		t.Errorf("slow request in flight during Stop: %d %q %v, want 200 0.0.1", r.code, r.body, r.err)
	}
	if got := states(t, c, "shop"); len(got) != 0 {
		t.Errorf("after Stop, Instances = %v, want none", got)
	}
	if _, err := tc.cli.ContainerInspect(ctx, inst.ID); err == nil {
		t.Error("container still exists after Stop")
	}
	if err := c.Stop(ctx, inst.ID); err != nil {
		t.Errorf("Stop of a removed instance: %v", err)
	}
}

// TestClusterRollingReplacement replaces two 0.0.1 instances with two
// 0.0.2 ones while 20 clients send about 200 requests a second through the
// proxy: no request fails, and once the last 0.0.1 is stopped every answer
// comes from 0.0.2.
func TestClusterRollingReplacement(t *testing.T) {
	tc := newTestCluster(t)
	v1 := dockertest.SampleImage(t, tc.cli, dockertest.SampleOptions{Version: "0.0.1"})
	v2 := dockertest.SampleImage(t, tc.cli, dockertest.SampleOptions{Version: "0.0.2"})
	c := tc.cluster(t, docker.ClusterConfig{})
	ctx := context.Background()

	old := []providers.Instance{start(t, c, sampleSpec("shop", "0.0.1", v1)), start(t, c, sampleSpec("shop", "0.0.1", v1))}
	want := map[string]providers.InstanceState{}
	for _, i := range old {
		want[i.ID] = providers.InstanceHealthy
	}
	waitStates(t, c, "shop", want)
	endpoint, err := c.Endpoint(ctx, "shop", "api")
	if err != nil {
		t.Fatal(err)
	}

	load := startLoad(endpoint+"/", 20, 100*time.Millisecond)
	defer load.stop()
	load.waitRequests(t, 200) // about a second of traffic on 0.0.1

	for range 2 {
		i := start(t, c, sampleSpec("shop", "0.0.2", v2))
		want[i.ID] = providers.InstanceHealthy
	}
	waitStates(t, c, "shop", want)
	for _, i := range old {
		if err := c.Stop(ctx, i.ID); err != nil {
			t.Fatalf("Stop %s: %v", i.ID[:12], err)
		}
		delete(want, i.ID)
	}
	rolledOut := time.Now()
	load.waitRequests(t, load.count()+200) // about a second of traffic on 0.0.2
	results := load.stop()

	var failed []string
	versions := map[string]int{}
	after := map[string]int{}
	for _, r := range results {
		if r.err != nil || r.code != 200 {
			failed = append(failed, fmt.Sprintf("%d %q %v", r.code, r.body, r.err))
			continue
		}
		versions[r.body]++
		if r.sent.After(rolledOut) {
			after[r.body]++
		}
	}
	t.Logf("%d requests: %v; after the rollout: %v", len(results), versions, after)
	if len(failed) > 0 {
		t.Errorf("%d of %d requests failed during the rollout, e.g. %s", len(failed), len(results), failed[0])
	}
	if versions["0.0.1"] == 0 || versions["0.0.2"] == 0 {
		t.Errorf("versions served %v, want both 0.0.1 (before) and 0.0.2 (after)", versions)
	}
	if len(after) != 1 || after["0.0.2"] == 0 {
		t.Errorf("after the rollout, versions served %v, want only 0.0.2", after)
	}
	waitStates(t, c, "shop", want)
}

// load is a bounded load generator: clients goroutines each send a GET,
// then wait pause, until stopped.
type load struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []loadResult
}

type loadResult struct {
	sent time.Time
	body string
	code int
	err  error
}

func startLoad(url string, clients int, pause time.Duration) *load {
	l := &load{done: make(chan struct{})}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: clients, Proxy: nil},
	}
	for range clients {
		l.wg.Go(func() {
			for {
				select {
				case <-l.done:
					return
				default:
				}
				r := loadResult{sent: time.Now()}
				resp, err := client.Get(url)
				if err != nil {
					r.err = err
				} else {
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					r.body, r.code, r.err = strings.TrimSpace(string(b)), resp.StatusCode, err
				}
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
				select {
				case <-l.done:
					return
				case <-time.After(pause):
				}
			}
		})
	}
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.results)
}

func (l *load) waitRequests(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d requests", n), func() (bool, error) { return l.count() >= n, nil })
}

// stop stops the clients and returns every result; calling it again is
// harmless.
func (l *load) stop() []loadResult {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.results
}

// BenchmarkStartHealthy measures the floor a rollout step cannot beat:
// start one container and wait until its health checks have passed and
// the proxy sends it traffic. It runs with the default health interval and
// with the tests' fast one; a deploy benchmark should compare against the
// one it uses.
func BenchmarkStartHealthy(b *testing.B) {
	tc := newTestCluster(b)
	img := dockertest.SampleImage(b, tc.cli, dockertest.SampleOptions{Version: "0.0.1"})
	for _, bc := range []struct {
		name   string
		health docker.HealthConfig
	}{
		{"interval=100ms", docker.HealthConfig{Interval: 100 * time.Millisecond}},
		{"interval=default", docker.HealthConfig{StartDeadline: 60 * time.Second}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := tc.cluster(b, docker.ClusterConfig{Health: bc.health})
			p, err := c.Proxy("bench", "api")
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for b.Loop() {
				inst := start(b, c, sampleSpec("bench", "0.0.1", img))
				for !slices.Contains(p.Backends(), inst.ID) {
					time.Sleep(2 * time.Millisecond)
				}
				b.StopTimer()
				if err := c.Stop(ctx, inst.ID); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// TestClusterInstanceHealthSettings: an instance's own health interval,
// threshold and timeout (from .mainline.yaml) are used and kept on its
// container, so a restarted controller checks it the same way.
func TestClusterInstanceHealthSettings(t *testing.T) {
	tc := newTestCluster(t)
	img := dockertest.SampleImage(t, tc.cli, dockertest.SampleOptions{Version: "0.0.1"})
	c := tc.cluster(t, docker.ClusterConfig{})
	spec := sampleSpec("tuned", "0.0.1", img)
	spec.HealthInterval, spec.HealthyThreshold, spec.HealthTimeout = 150*time.Millisecond, 3, 750*time.Millisecond
	inst := start(t, c, spec)
	info, err := tc.cli.ContainerInspect(context.Background(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{docker.LabelHealthEvery: "150ms", docker.LabelHealthPasses: "3", docker.LabelHealthTimeout: "750ms"}
	for k, v := range want {
		if got := info.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	waitStates(t, c, "tuned", map[string]providers.InstanceState{inst.ID: providers.InstanceHealthy})
}
