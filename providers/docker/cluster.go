package docker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/mainline-cd/mainline/providers"
)

// Labels a Cluster puts on every container it starts. The first four are
// how Instances finds them again; the others let a restarted controller
// check an instance's health without its spec.
const (
	LabelProject       = "mainline.project"
	LabelBuild         = "mainline.build"
	LabelVersion       = "mainline.version"
	LabelManaged       = "mainline.managed"          // "true"
	LabelPort          = "mainline.port"             // the service's port inside the container
	LabelHealthPath    = "mainline.health.path"      // e.g. "/healthz"
	LabelHealthTimeout = "mainline.health.timeout"   // a time.Duration string
	LabelHealthEvery   = "mainline.health.interval"  // a time.Duration string
	LabelHealthPasses  = "mainline.health.threshold" // passes in a row before traffic
)

// Defaults for Stop.
const (
	DefaultDrainTimeout = 10 * time.Second
	DefaultStopGrace    = 10 * time.Second
)

// loopback is where instance ports are published and proxies listen.
const loopback = "127.0.0.1"

// ContainerClient is the part of the Docker Engine API a Cluster uses;
// *client.Client from github.com/docker/docker/client has it.
type ContainerClient interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, options container.StartOptions) error
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerStop(ctx context.Context, id string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
}

var _ ContainerClient = (*client.Client)(nil)

// ClusterConfig configures a Cluster. Only Client is required.
type ClusterConfig struct {
	Client ContainerClient
	Logger *slog.Logger // nil discards
	Clock  Clock        // for health deadlines; nil is the system clock

	// Labels are put on every container the Cluster starts and select the
	// containers it sees: two Clusters with different Labels on one engine
	// do not see each other's instances (tests use that to stay apart).
	Labels map[string]string

	Health HealthConfig

	// DrainTimeout bounds how long Stop waits for an instance's in-flight
	// requests; default DefaultDrainTimeout.
	DrainTimeout time.Duration
	// StopGrace is how long a stopped instance has between SIGTERM and
	// SIGKILL; default DefaultStopGrace. Whole seconds, rounded up.
	StopGrace time.Duration

	// ProxyPorts returns the loopback port of a build's proxy. Give every
	// build a fixed port so that its endpoint survives a restart of the
	// controller; nil, or 0 for a build, picks a free port.
	ProxyPorts func(project, build string) int
}

// Cluster is a providers.Cluster on one Docker Engine. Every instance is a
// container labelled with its project, build and version (see the Label
// constants), its port published on 127.0.0.1 at a port Docker picks, and no
// restart policy. Containers outlive the Cluster value: Instances reads
// them back from the engine, so a new Cluster (a restarted controller) finds
// what runs.
//
// In front of each build is a Proxy, listening on 127.0.0.1, that sends
// traffic only to healthy instances. The Cluster checks every instance it
// starts or finds (see HealthConfig) and moves it in and out of the proxy.
// Proxies and checks live as long as the Cluster; Close stops them and
// leaves the containers running.
type Cluster struct {
	cli     ContainerClient
	log     *slog.Logger
	clock   Clock
	labels  map[string]string
	health  HealthConfig
	drain   time.Duration
	grace   time.Duration
	ports   func(project, build string) int
	prober  *prober
	ctx     context.Context // cancelled by Close; parent of all checks
	cancel  context.CancelFunc
	workers sync.WaitGroup

	mu     sync.Mutex
	closed bool
	insts  map[string]*tracked // container ID → instance being checked
	builds map[buildKey]*buildProxy
}

var _ providers.Cluster = (*Cluster)(nil)

type buildKey struct{ project, build string }

// buildProxy is a build's Proxy and the server it listens with.
type buildProxy struct {
	proxy *Proxy
	srv   *http.Server
	url   string
}

// tracked is an instance the Cluster checks. Its mutable fields are
// guarded by Cluster.mu.
type tracked struct {
	inst      providers.Instance
	key       buildKey
	backend   *url.URL
	healthURL string
	health    HealthConfig // the cluster's, with the instance's own timeout, interval and threshold
	trackedAt time.Time
	cancel    context.CancelFunc
	done      chan struct{} // closed when the check loop has returned
}

// NewCluster returns a Cluster using cfg.Client. It starts nothing: proxies
// and checks start as builds and instances are first used.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if cfg.Client == nil {
		return nil, errors.New("docker cluster: no Docker client")
	}
	for k := range cfg.Labels {
		if isOwnLabel(k) {
			return nil, fmt.Errorf("docker cluster: label %s is set by the cluster itself", k)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cluster{
		cli:    cfg.Client,
		log:    log,
		clock:  cfg.Clock,
		labels: maps.Clone(cfg.Labels),
		health: cfg.Health.withDefaults(),
		drain:  cmp.Or(cfg.DrainTimeout, DefaultDrainTimeout),
		grace:  cmp.Or(cfg.StopGrace, DefaultStopGrace),
		ports:  cfg.ProxyPorts,
		prober: newProber(),
		ctx:    ctx,
		cancel: cancel,
		insts:  make(map[string]*tracked),
		builds: make(map[buildKey]*buildProxy),
	}, nil
}

func isOwnLabel(k string) bool {
	switch k {
	case LabelProject, LabelBuild, LabelVersion, LabelManaged, LabelPort, LabelHealthPath, LabelHealthTimeout, LabelHealthEvery, LabelHealthPasses:
		return true
	}
	return false
}

// Close stops the health checks and the proxies (letting requests in
// flight finish, up to ctx) and leaves the containers running.
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	builds := slices.Collect(maps.Values(c.builds))
	c.builds = make(map[buildKey]*buildProxy)
	c.mu.Unlock()
	c.cancel()
	var errs []error
	for _, b := range builds {
		if err := b.srv.Shutdown(ctx); err != nil {
			b.srv.Close()
			errs = append(errs, fmt.Errorf("proxy %s: %w", b.url, err))
		}
		b.proxy.CloseIdleConnections()
	}
	c.workers.Wait()
	return errors.Join(errs...)
}

// Endpoint returns the URL of the build's proxy, starting the proxy if it
// is not running yet and finding the build's running instances, so that a
// restarted controller serves them again once they pass their checks.
func (c *Cluster) Endpoint(ctx context.Context, project, build string) (string, error) {
	b, err := c.buildProxy(project, build)
	if err != nil {
		return "", err
	}
	if _, err := c.Instances(ctx, project, build); err != nil {
		return "", err
	}
	return b.url, nil
}

// Proxy returns the build's proxy, starting it if it is not running yet.
func (c *Cluster) Proxy(project, build string) (*Proxy, error) {
	b, err := c.buildProxy(project, build)
	if err != nil {
		return nil, err
	}
	return b.proxy, nil
}

// buildProxy returns the build's proxy, starting it on first use.
func (c *Cluster) buildProxy(project, build string) (*buildProxy, error) {
	key := buildKey{project, build}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("proxy %s/%s: cluster closed", project, build)
	}
	if b := c.builds[key]; b != nil {
		return b, nil
	}
	port := 0
	if c.ports != nil {
		port = c.ports(project, build)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("proxy %s/%s: %w", project, build, err)
	}
	name := project + "/" + build
	p := NewProxy(ProxyConfig{Name: name, Logger: c.log})
	b := &buildProxy{
		proxy: p,
		srv:   &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn)},
		url:   "http://" + ln.Addr().String(),
	}
	c.builds[key] = b
	c.workers.Add(1)
	go func() {
		defer c.workers.Done()
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("proxy stopped", "build", name, "err", err)
		}
	}()
	c.log.Info("proxy listening", "build", name, "url", b.url)
	return b, nil
}

// Start creates and starts a container for spec and begins checking it. It
// returns at once with the instance starting; it takes traffic when healthy.
func (c *Cluster) Start(ctx context.Context, spec providers.InstanceSpec) (providers.Instance, error) {
	what := fmt.Sprintf("start %s/%s@%s", spec.Project, spec.Build, spec.Version)
	switch {
	case spec.Project == "" || spec.Build == "" || spec.Version == "":
		return providers.Instance{}, fmt.Errorf("%s: project, build and version are required", what)
	case spec.Image == "":
		return providers.Instance{}, fmt.Errorf("%s: no image", what)
	case spec.Port <= 0 || spec.Port > math.MaxUint16:
		return providers.Instance{}, fmt.Errorf("%s: port %d out of range", what, spec.Port)
	}
	if _, err := c.buildProxy(spec.Project, spec.Build); err != nil {
		return providers.Instance{}, fmt.Errorf("%s: %w", what, err)
	}
	healthPath := cmp.Or(spec.HealthPath, "/")
	if !strings.HasPrefix(healthPath, "/") {
		healthPath = "/" + healthPath
	}
	hc := c.instanceHealth(spec.HealthTimeout, spec.HealthInterval, spec.HealthyThreshold)

	labels := maps.Clone(c.labels)
	if labels == nil {
		labels = make(map[string]string)
	}
	maps.Copy(labels, map[string]string{
		LabelProject:       spec.Project,
		LabelBuild:         spec.Build,
		LabelVersion:       spec.Version,
		LabelManaged:       "true",
		LabelPort:          strconv.Itoa(spec.Port),
		LabelHealthPath:    healthPath,
		LabelHealthTimeout: hc.Timeout.String(),
		LabelHealthEvery:   hc.Interval.String(),
		LabelHealthPasses:  strconv.Itoa(hc.HealthyThreshold),
	})
	env := make([]string, 0, len(spec.Env))
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
	}
	port := nat.Port(strconv.Itoa(spec.Port) + "/tcp")
	name, err := containerName(spec)
	if err != nil {
		return providers.Instance{}, fmt.Errorf("%s: %w", what, err)
	}
	created, err := c.cli.ContainerCreate(ctx,
		&container.Config{Image: spec.Image, Env: env, Labels: labels, ExposedPorts: nat.PortSet{port: {}}},
		&container.HostConfig{
			PortBindings:  nat.PortMap{port: {{HostIP: loopback}}}, // Docker picks the host port
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		},
		nil, nil, name)
	if err != nil {
		return providers.Instance{}, fmt.Errorf("%s: create container from %s: %w", what, spec.Image, err)
	}
	id := created.ID
	// Clean up with a context of its own: ctx may be what failed.
	removeOnError := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := c.cli.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			c.log.Error("remove failed container", "container", shortID(id), "err", err)
		}
	}
	if err := c.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		removeOnError()
		return providers.Instance{}, fmt.Errorf("%s: start container %s: %w", what, shortID(id), err)
	}
	info, err := c.cli.ContainerInspect(ctx, id)
	if err != nil {
		removeOnError()
		return providers.Instance{}, fmt.Errorf("%s: inspect container %s: %w", what, shortID(id), err)
	}
	hostPort := 0
	if info.NetworkSettings != nil {
		for _, b := range info.NetworkSettings.Ports[port] {
			if n, err := strconv.Atoi(b.HostPort); err == nil && n > 0 {
				hostPort = n
				break
			}
		}
	}
	if hostPort == 0 {
		removeOnError()
		return providers.Instance{}, fmt.Errorf("%s: container %s has no host port for %s", what, shortID(id), port)
	}
	startedAt := time.Now()
	if t, err := time.Parse(time.RFC3339Nano, info.Created); err == nil {
		startedAt = t.Truncate(time.Second) // as precise as a container list says
	}
	inst := providers.Instance{
		ID:        id,
		Project:   spec.Project,
		Build:     spec.Build,
		Version:   spec.Version,
		State:     providers.InstanceStarting,
		StartedAt: startedAt,
	}
	c.log.Info("instance started", "project", spec.Project, "build", spec.Build, "version", spec.Version, "container", shortID(id), "port", hostPort)
	return c.track(ctx, inst, hostPort, healthPath, hc, false), nil
}

// containerName is a readable, unique container name.
func containerName(spec providers.InstanceSpec) (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
				return r
			}
			return '-'
		}, s)
	}
	return fmt.Sprintf("mainline-%s-%s-%s-%s", clean(spec.Project), clean(spec.Build), clean(spec.Version), hex.EncodeToString(b)), nil
}

// track starts checking inst unless it is checked already, and returns it
// with its current state.
//
// A container found running that this Cluster did not start (adopted: the
// controller restarted) was serving before: one check now, and it takes
// traffic again at once if it passes, instead of going back to starting.
// Reporting it as starting would make the planner treat a healthy old
// version mid-rollout as never having come up.
func (c *Cluster) track(ctx context.Context, inst providers.Instance, hostPort int, healthPath string, hc HealthConfig, adopted bool) providers.Instance {
	host := net.JoinHostPort(loopback, strconv.Itoa(hostPort))
	healthURL := "http://" + host + healthPath
	c.mu.Lock()
	if t := c.insts[inst.ID]; t != nil {
		inst.State = t.inst.State
		c.mu.Unlock()
		return inst
	}
	c.mu.Unlock()

	initial := providers.InstanceStarting
	if adopted && c.prober.check(ctx, healthURL, hc.Timeout) == nil {
		initial = providers.InstanceHealthy
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.insts[inst.ID]; t != nil { // tracked meanwhile
		inst.State = t.inst.State
		return inst
	}
	inst.State = initial
	if c.closed {
		return inst
	}
	cctx, cancel := context.WithCancel(c.ctx)
	t := &tracked{
		inst:      inst,
		key:       buildKey{inst.Project, inst.Build},
		backend:   &url.URL{Scheme: "http", Host: host},
		healthURL: healthURL,
		health:    hc,
		trackedAt: time.Now(),
		cancel:    cancel,
		done:      make(chan struct{}),
	}
	c.insts[inst.ID] = t
	if initial == providers.InstanceHealthy {
		if b := c.builds[t.key]; b != nil {
			b.proxy.Set(inst.ID, t.backend)
		}
		c.log.Info("instance adopted healthy", "project", inst.Project, "build", inst.Build, "version", inst.Version, "container", shortID(inst.ID))
	}
	c.workers.Add(1)
	go c.check(cctx, t, initial)
	return inst
}

// instanceHealth is the cluster's health configuration with an instance's
// own timeout, interval and threshold where it sets them (zero or negative
// values keep the cluster's).
func (c *Cluster) instanceHealth(timeout, interval time.Duration, passes int) HealthConfig {
	hc := c.health
	if timeout > 0 {
		hc.Timeout = timeout
	}
	if interval > 0 {
		hc.Interval = interval
	}
	if passes > 0 {
		hc.HealthyThreshold = passes
	}
	return hc
}

// check runs the health checks of t until ctx is cancelled.
func (c *Cluster) check(ctx context.Context, t *tracked, initial providers.InstanceState) {
	defer c.workers.Done()
	defer close(t.done)
	hs := newHealthState(t.health, c.now())
	hs.state = initial
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := c.prober.check(ctx, t.healthURL, t.health.Timeout)
		if ctx.Err() != nil {
			return
		}
		c.setState(t, hs.observe(err == nil, c.now()), err)
		timer.Reset(t.health.Interval)
	}
}

// setState records a checked state and moves the instance in or out of its
// build's proxy. An instance being stopped stays out.
func (c *Cluster) setState(t *tracked, state providers.InstanceState, checkErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.inst.State == providers.InstanceStopping || c.insts[t.inst.ID] != t || state == t.inst.State {
		return
	}
	c.log.Info("instance "+string(state), "project", t.inst.Project, "build", t.inst.Build, "version", t.inst.Version,
		"container", shortID(t.inst.ID), "last_check_error", errString(checkErr))
	t.inst.State = state
	b := c.builds[t.key]
	if b == nil {
		return
	}
	if state == providers.InstanceHealthy {
		b.proxy.Set(t.inst.ID, t.backend)
	} else {
		b.proxy.Remove(t.inst.ID)
	}
}

// untrack stops checking container id and takes it out of its proxy. It
// returns when the check loop has stopped.
func (c *Cluster) untrack(id string) {
	c.mu.Lock()
	t := c.insts[id]
	if t != nil {
		delete(c.insts, id)
		if b := c.builds[t.key]; b != nil {
			b.proxy.Remove(id)
		}
	}
	c.mu.Unlock()
	if t != nil {
		t.cancel()
		<-t.done
	}
}

// Instances lists the build's containers from the Docker Engine, running
// or not, and reports each one's health: a container that is not running
// is unhealthy; a running one is checked from now on if it was not yet
// (after a restart it is checked once at once: see track). Containers that have gone are
// no longer checked.
func (c *Cluster) Instances(ctx context.Context, project, build string) ([]providers.Instance, error) {
	if _, err := c.buildProxy(project, build); err != nil {
		return nil, err
	}
	listedAt := time.Now()
	args := filters.NewArgs(
		filters.Arg("label", LabelProject+"="+project),
		filters.Arg("label", LabelBuild+"="+build),
		filters.Arg("label", LabelManaged+"=true"),
	)
	for k, v := range c.labels {
		args.Add("label", k+"="+v)
	}
	list, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("instances of %s/%s: list containers: %w", project, build, err)
	}
	out := make([]providers.Instance, 0, len(list))
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		seen[s.ID] = true
		inst := providers.Instance{
			ID:        s.ID,
			Project:   project,
			Build:     build,
			Version:   s.Labels[LabelVersion],
			State:     providers.InstanceUnhealthy,
			StartedAt: time.Unix(s.Created, 0),
		}
		if s.State != container.StateRunning {
			c.untrack(s.ID)
			out = append(out, inst)
			continue
		}
		hostPort := publishedPort(s)
		if hostPort == 0 {
			c.log.Warn("instance has no published port; not checked", "container", shortID(s.ID))
			c.untrack(s.ID)
			out = append(out, inst)
			continue
		}
		timeout, _ := time.ParseDuration(s.Labels[LabelHealthTimeout])
		every, _ := time.ParseDuration(s.Labels[LabelHealthEvery])
		passes, _ := strconv.Atoi(s.Labels[LabelHealthPasses])
		hc := c.instanceHealth(timeout, every, passes)
		out = append(out, c.track(ctx, inst, hostPort, cmp.Or(s.Labels[LabelHealthPath], "/"), hc, true))
	}
	c.mu.Lock()
	var gone []string
	for id, t := range c.insts {
		if t.key == (buildKey{project, build}) && !seen[id] && t.trackedAt.Before(listedAt) && t.inst.State != providers.InstanceStopping {
			gone = append(gone, id)
		}
	}
	c.mu.Unlock()
	for _, id := range gone {
		c.untrack(id)
	}
	slices.SortFunc(out, func(a, b providers.Instance) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// publishedPort returns the loopback host port of the container's service
// port (from its LabelPort), or 0.
func publishedPort(s container.Summary) int {
	want, err := strconv.Atoi(s.Labels[LabelPort])
	if err != nil {
		return 0
	}
	for _, p := range s.Ports {
		if int(p.PrivatePort) == want && p.Type == "tcp" && p.PublicPort != 0 && (p.IP == loopback || p.IP == "") {
			return int(p.PublicPort)
		}
	}
	return 0
}

// Stop takes the instance out of its proxy, waits up to the drain timeout
// for its in-flight requests, stops it (SIGTERM, then SIGKILL after the
// grace period) and removes it. A gone container is not an error; a
// container the Cluster did not start is.
func (c *Cluster) Stop(ctx context.Context, id string) error {
	info, err := c.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		c.untrack(id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop %s: inspect: %w", shortID(id), err)
	}
	id = info.ID
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	if labels[LabelManaged] != "true" {
		return fmt.Errorf("stop %s: container is not managed by mainline (no %s=true label)", shortID(id), LabelManaged)
	}
	key := buildKey{labels[LabelProject], labels[LabelBuild]}
	log := c.log.With("project", key.project, "build", key.build, "version", labels[LabelVersion], "container", shortID(id))

	c.mu.Lock()
	if t := c.insts[id]; t != nil {
		t.inst.State = providers.InstanceStopping
	}
	b := c.builds[key]
	c.mu.Unlock()
	if b != nil {
		dctx, cancel := context.WithTimeout(ctx, c.drain)
		err := b.proxy.Drain(dctx, id)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stop %s: %w", shortID(id), err)
			}
			log.Warn("drain timed out; stopping anyway", "err", err)
		}
	}
	c.untrack(id)

	grace := int(math.Ceil(c.grace.Seconds()))
	if err := c.cli.ContainerStop(ctx, id, container.StopOptions{Signal: "SIGTERM", Timeout: &grace}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: %w", shortID(id), err)
	}
	if err := c.cli.ContainerRemove(ctx, id, container.RemoveOptions{RemoveVolumes: true, Force: true}); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		// Conflict: another Stop is already removing it.
		return fmt.Errorf("stop %s: remove: %w", shortID(id), err)
	}
	log.Info("instance stopped")
	return nil
}

func (c *Cluster) now() time.Time { return now(c.clock) }

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
