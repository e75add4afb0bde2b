package ecs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/mainline-cd/mainline/providers"
)

// Tags a Cluster puts on every task definition it registers. They map
// tasks and deployments back to versions, and mark what Mainline manages.
const (
	TagProject = "mainline.project"
	TagBuild   = "mainline.build"
	TagVersion = "mainline.version"
)

// Defaults for zero Config fields.
const (
	DefaultCPU         = 256 // CPU units per task
	DefaultMemory      = 512 // MiB per task
	DefaultStaleReads  = 3
	DefaultReReadDelay = time.Second
	DefaultUpdateTTL   = 2 * time.Minute
)

// ErrNotPrimary is returned by Start for a version that is not the
// service's PRIMARY deployment: ECS runs one task definition per service
// outside a deployment, so a new version comes with Rollout.
var ErrNotPrimary = errors.New("version is not the service's primary deployment")

// Client is the part of the ECS API a Cluster calls; *ecs.Client from
// aws-sdk-go-v2 has it. Tests point a real client at the fake in package
// ecstest.
type Client interface {
	RegisterTaskDefinition(ctx context.Context, in *awsecs.RegisterTaskDefinitionInput, opts ...func(*awsecs.Options)) (*awsecs.RegisterTaskDefinitionOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *awsecs.DescribeTaskDefinitionInput, opts ...func(*awsecs.Options)) (*awsecs.DescribeTaskDefinitionOutput, error)
	CreateService(ctx context.Context, in *awsecs.CreateServiceInput, opts ...func(*awsecs.Options)) (*awsecs.CreateServiceOutput, error)
	UpdateService(ctx context.Context, in *awsecs.UpdateServiceInput, opts ...func(*awsecs.Options)) (*awsecs.UpdateServiceOutput, error)
	DescribeServices(ctx context.Context, in *awsecs.DescribeServicesInput, opts ...func(*awsecs.Options)) (*awsecs.DescribeServicesOutput, error)
	ListTasks(ctx context.Context, in *awsecs.ListTasksInput, opts ...func(*awsecs.Options)) (*awsecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *awsecs.DescribeTasksInput, opts ...func(*awsecs.Options)) (*awsecs.DescribeTasksOutput, error)
	StopTask(ctx context.Context, in *awsecs.StopTaskInput, opts ...func(*awsecs.Options)) (*awsecs.StopTaskOutput, error)
}

var _ Client = (*awsecs.Client)(nil)

// Clock tells the time; it decides when a remembered update is too old to
// trust over what ECS reports.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config configures a Cluster. Client and Cluster are required; the other
// fields have working zero values.
type Config struct {
	Client  Client
	Cluster string       // ECS cluster name or ARN
	Logger  *slog.Logger // nil discards
	Clock   Clock        // nil is the system clock

	// Where and how tasks run.
	LaunchType       types.LaunchType // default FARGATE
	CPU              int              // CPU units per task; default DefaultCPU
	Memory           int              // MiB per task; default DefaultMemory
	ExecutionRoleARN string           // lets ECS pull from ECR and write logs
	TaskRoleARN      string           // the role the service itself runs as
	Subnets          []string         // awsvpc network configuration
	SecurityGroups   []string
	AssignPublicIP   bool

	// HealthCheck is the container health check command, with "{port}" and
	// "{path}" replaced by the spec's port and health path, for example
	// {"CMD-SHELL", "curl -fsS http://127.0.0.1:{port}{path} || exit 1"}.
	// Its timeout is the spec's HealthTimeout. Without it a running task
	// counts as healthy, and health is left to the load balancer's target
	// group (TargetGroup), which ECS deployments then wait on.
	HealthCheck []string
	// TargetGroup returns the ALB target group ARN that a build's service
	// registers its tasks with, or "" for none. Read when the service is
	// created.
	TargetGroup func(project, build string) string
	// HealthCheckGracePeriod is how long ECS ignores failing load balancer
	// checks of a new task.
	HealthCheckGracePeriod time.Duration

	// Endpoint returns the URL where a build answers (its load balancer's
	// listener); Cluster.Endpoint fails without it.
	Endpoint func(project, build string) string
	// Service names a build's ECS service and task definition family;
	// default "<project>-<build>" with characters ECS refuses replaced.
	Service func(project, build string) string

	// StaleReads is how many times a DescribeServices that does not show
	// this Cluster's last update of the service yet is read again, every
	// ReReadDelay, before the call reports that it waits for ECS.
	// Default DefaultStaleReads; negative reads once.
	StaleReads  int
	ReReadDelay time.Duration // default DefaultReReadDelay
	// UpdateTTL is how long this Cluster's last update of a service is
	// trusted over reads that do not show it; after that what ECS reports
	// wins, and the update is made again if needed. Default
	// DefaultUpdateTTL.
	UpdateTTL time.Duration
}

// Cluster is a providers.Cluster and providers.Roller on one ECS cluster.
// Its methods are safe for concurrent use. It keeps no state that matters
// across restarts: versions live in task definition tags, deployments in
// ECS.
type Cluster struct {
	cfg   Config
	cli   Client
	log   *slog.Logger
	clock Clock

	mu       sync.Mutex
	defs     map[string]taskDefInfo // by task definition ARN; task definitions never change
	registry map[serviceVersion]string
	updates  map[string]update  // by service name: this Cluster's last update
	failures map[string]failure // by service name: a version ECS gave up on
}

var (
	_ providers.Cluster = (*Cluster)(nil)
	_ providers.Roller  = (*Cluster)(nil)
)

// taskDefInfo is what a task definition says about the version it runs.
type taskDefInfo struct {
	project, build, version string
	managed                 bool // has Mainline's tags
	healthCheck             bool // its container has a health check
}

type serviceVersion struct{ service, version string }

// update is an UpdateService or CreateService this Cluster made, and what a
// read must show to be at least as new as it.
type update struct {
	deployment string    // the PRIMARY deployment id it answered with
	created    time.Time // when ECS says that deployment was created
	desired    int32
	at         time.Time // on the Cluster's clock
}

type failure struct{ version, reason string }

// New returns a Cluster for cfg.
func New(cfg Config) (*Cluster, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("ecs cluster: no client")
	case cfg.Cluster == "":
		return nil, errors.New("ecs cluster: no cluster name")
	}
	cfg.LaunchType = cmp.Or(cfg.LaunchType, types.LaunchTypeFargate)
	cfg.CPU = cmp.Or(cfg.CPU, DefaultCPU)
	cfg.Memory = cmp.Or(cfg.Memory, DefaultMemory)
	cfg.StaleReads = cmp.Or(cfg.StaleReads, DefaultStaleReads)
	cfg.ReReadDelay = cmp.Or(cfg.ReReadDelay, DefaultReReadDelay)
	cfg.UpdateTTL = cmp.Or(cfg.UpdateTTL, DefaultUpdateTTL)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var clock Clock = systemClock{}
	if cfg.Clock != nil {
		clock = cfg.Clock
	}
	return &Cluster{
		cfg:      cfg,
		cli:      cfg.Client,
		log:      log.With("ecs_cluster", cfg.Cluster),
		clock:    clock,
		defs:     map[string]taskDefInfo{},
		registry: map[serviceVersion]string{},
		updates:  map[string]update{},
		failures: map[string]failure{},
	}, nil
}

// ServiceName returns the name of the build's ECS service, which is also
// its task definition family.
func (c *Cluster) ServiceName(project, build string) string {
	if c.cfg.Service != nil {
		return c.cfg.Service(project, build)
	}
	return clean(project + "-" + build)
}

// clean keeps the letters, digits, hyphens and underscores ECS allows in
// service and family names, replacing anything else with a hyphen.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
	if len(s) > 255 {
		s = s[:255]
	}
	return s
}

// Endpoint returns the URL Config.Endpoint gives for the build.
func (c *Cluster) Endpoint(ctx context.Context, project, build string) (string, error) {
	if c.cfg.Endpoint == nil {
		return "", fmt.Errorf("endpoint of %s/%s: no endpoint configured for the ECS cluster", project, build)
	}
	u := c.cfg.Endpoint(project, build)
	if u == "" {
		return "", fmt.Errorf("endpoint of %s/%s: %w", project, build, providers.ErrNotFound)
	}
	return u, nil
}

// Instances lists the service's tasks that ECS means to keep running, as
// instances: ID is the task ARN, Version comes from the task definition's
// tags, and State from the task: stopping once ECS is stopping it,
// healthy or unhealthy by its container health check, or, without one,
// healthy once running; starting before that. A build without a service
// has no instances.
func (c *Cluster) Instances(ctx context.Context, project, build string) ([]providers.Instance, error) {
	name := c.ServiceName(project, build)
	tasks, err := c.tasks(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("instances of %s/%s: %w", project, build, err)
	}
	out := make([]providers.Instance, 0, len(tasks))
	for _, tk := range tasks {
		info, err := c.taskDef(ctx, aws.ToString(tk.TaskDefinitionArn))
		if err != nil {
			return nil, fmt.Errorf("instances of %s/%s: %w", project, build, err)
		}
		out = append(out, providers.Instance{
			ID:        aws.ToString(tk.TaskArn),
			Project:   project,
			Build:     build,
			Version:   info.version,
			State:     taskState(tk, info),
			StartedAt: aws.ToTime(cmp.Or(tk.StartedAt, tk.CreatedAt)),
		})
	}
	slices.SortFunc(out, func(a, b providers.Instance) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

func taskState(tk types.Task, info taskDefInfo) providers.InstanceState {
	last := aws.ToString(tk.LastStatus)
	switch {
	case aws.ToString(tk.DesiredStatus) == "STOPPED" ||
		last == "DEACTIVATING" || last == "STOPPING" || last == "DEPROVISIONING" || last == "STOPPED":
		return providers.InstanceStopping
	case tk.HealthStatus == types.HealthStatusHealthy:
		return providers.InstanceHealthy
	case tk.HealthStatus == types.HealthStatusUnhealthy:
		return providers.InstanceUnhealthy
	case last == "RUNNING" && !info.healthCheck:
		return providers.InstanceHealthy
	}
	return providers.InstanceStarting
}

// Start adds one task of spec's version to the build's service: it creates
// the service with one task if there is none, and otherwise raises the
// desired count by one, which ECS fills with the PRIMARY deployment's task
// definition. A version that is not the PRIMARY deployment's is refused
// with ErrNotPrimary: use Rollout. ECS picks the task, so the returned
// instance has no ID; Instances lists it once ECS has placed it.
func (c *Cluster) Start(ctx context.Context, spec providers.InstanceSpec) (providers.Instance, error) {
	what := fmt.Sprintf("start %s/%s@%s", spec.Project, spec.Build, spec.Version)
	if err := validSpec(spec); err != nil {
		return providers.Instance{}, fmt.Errorf("%s: %w", what, err)
	}
	name := c.ServiceName(spec.Project, spec.Build)
	svc, fresh, err := c.observe(ctx, name)
	if err != nil {
		return providers.Instance{}, fmt.Errorf("%s: %w", what, err)
	}
	if !fresh {
		return providers.Instance{}, fmt.Errorf("%s: ECS does not show the last update of service %s yet; try again", what, name)
	}
	if svc == nil {
		if err := c.create(ctx, spec, 1, 1, 0); err != nil {
			return providers.Instance{}, fmt.Errorf("%s: %w", what, err)
		}
	} else {
		primary := primaryDeployment(svc)
		info, err := c.taskDef(ctx, aws.ToString(primary.TaskDefinition))
		if err != nil {
			return providers.Instance{}, fmt.Errorf("%s: %w", what, err)
		}
		if info.version != spec.Version || primary.RolloutState == types.DeploymentRolloutStateFailed {
			return providers.Instance{}, fmt.Errorf("%s: %w (it runs %s, rollout %s)", what, ErrNotPrimary, info.version, primary.RolloutState)
		}
		if err := c.scale(ctx, name, svc.DesiredCount+1); err != nil {
			return providers.Instance{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	c.log.Info("task added", "project", spec.Project, "build", spec.Build, "version", spec.Version, "service", name)
	return providers.Instance{Project: spec.Project, Build: spec.Build, Version: spec.Version,
		State: providers.InstanceStarting, StartedAt: c.clock.Now()}, nil
}

func validSpec(spec providers.InstanceSpec) error {
	switch {
	case spec.Project == "" || spec.Build == "" || spec.Version == "":
		return errors.New("project, build and version are required")
	case spec.Image == "":
		return errors.New("no image")
	case spec.Port <= 0 || spec.Port > math.MaxUint16:
		return fmt.Errorf("port %d out of range", spec.Port)
	}
	return nil
}

// Stop stops the task id (a task ARN) and lowers its service's desired
// count by one, so that ECS does not replace it. A task that is gone or
// already stopping is not an error; a task Mainline did not start (no
// Mainline tags on its task definition, or not part of a service) is.
func (c *Cluster) Stop(ctx context.Context, id string) error {
	what := "stop task " + shortTask(id)
	out, err := c.cli.DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: &c.cfg.Cluster, Tasks: []string{id}})
	if err != nil {
		return fmt.Errorf("%s: describe: %w", what, err)
	}
	if len(out.Tasks) == 0 {
		return nil // MISSING: gone
	}
	tk := out.Tasks[0]
	if aws.ToString(tk.DesiredStatus) == "STOPPED" {
		return nil
	}
	name, ok := strings.CutPrefix(aws.ToString(tk.Group), "service:")
	if !ok {
		return fmt.Errorf("%s: not a task of a service (group %q)", what, aws.ToString(tk.Group))
	}
	info, err := c.taskDef(ctx, aws.ToString(tk.TaskDefinitionArn))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !info.managed {
		return fmt.Errorf("%s: task definition %s is not managed by mainline (no %s tag)", what, aws.ToString(tk.TaskDefinitionArn), TagVersion)
	}
	// Stop first, then lower the count: the other order lets ECS pick a
	// different task to stop, and then replace this one.
	if _, err := c.cli.StopTask(ctx, &awsecs.StopTaskInput{Cluster: &c.cfg.Cluster, Task: tk.TaskArn,
		Reason: aws.String("stopped by mainline")}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	svc, fresh, err := c.observe(ctx, name)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !fresh {
		return fmt.Errorf("%s: ECS does not show the last update of service %s yet; try again", what, name)
	}
	if svc != nil && svc.DesiredCount > 0 {
		if err := c.scale(ctx, name, svc.DesiredCount-1); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	c.log.Info("task stopped", "project", info.project, "build", info.build, "version", info.version, "task", shortTask(id))
	return nil
}

// scale sets the service's desired count.
func (c *Cluster) scale(ctx context.Context, name string, desired int32) error {
	out, err := c.cli.UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: &c.cfg.Cluster, Service: &name,
		DesiredCount: aws.Int32(desired)})
	if err != nil {
		return fmt.Errorf("set desired count of service %s to %d: %w", name, desired, err)
	}
	c.remember(name, out.Service)
	return nil
}

func shortTask(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// --- reading ECS ---

// describe returns the service, or nil when ECS has none (or only an
// inactive one) of that name.
func (c *Cluster) describe(ctx context.Context, name string) (*types.Service, error) {
	out, err := c.cli.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: &c.cfg.Cluster, Services: []string{name}})
	if err != nil {
		return nil, fmt.Errorf("describe service %s: %w", name, err)
	}
	for i := range out.Services {
		svc := &out.Services[i]
		if aws.ToString(svc.ServiceName) == name && aws.ToString(svc.Status) == "ACTIVE" {
			if len(svc.Deployments) == 0 {
				return nil, fmt.Errorf("describe service %s: no deployments", name)
			}
			return svc, nil
		}
	}
	return nil, nil
}

// observe describes the service, reading again while the answer is older
// than this Cluster's last update of it. fresh is false when it still was
// after Config.StaleReads more reads.
func (c *Cluster) observe(ctx context.Context, name string) (svc *types.Service, fresh bool, err error) {
	for i := 0; ; i++ {
		svc, err := c.describe(ctx, name)
		if err != nil {
			return nil, false, err
		}
		u, ok := c.lastUpdate(name)
		if !ok || shows(svc, u) {
			return svc, true, nil
		}
		if i >= c.cfg.StaleReads {
			c.log.Info("ECS does not show the last update yet", "service", name, "deployment", u.deployment, "reads", i+1)
			return svc, false, nil
		}
		t := time.NewTimer(c.cfg.ReReadDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false, ctx.Err()
		case <-t.C:
		}
	}
}

// shows reports whether svc is at least as new as update u: it lists u's
// deployment with u's desired count, or a deployment created after u's
// (ECS's rollback of it, say, after which u's deployment is gone).
func shows(svc *types.Service, u update) bool {
	if svc == nil {
		return false
	}
	for _, d := range svc.Deployments {
		if aws.ToString(d.Id) == u.deployment && svc.DesiredCount == u.desired ||
			!u.created.IsZero() && aws.ToTime(d.CreatedAt).After(u.created) {
			return true
		}
	}
	return false
}

// remember records an update this Cluster made, from ECS's answer to it.
func (c *Cluster) remember(name string, svc *types.Service) {
	if svc == nil || len(svc.Deployments) == 0 {
		return
	}
	p := primaryDeployment(svc)
	u := update{deployment: aws.ToString(p.Id), created: aws.ToTime(p.CreatedAt), desired: svc.DesiredCount, at: c.clock.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updates[name] = u
}

// lastUpdate returns this Cluster's last update of the service if it is
// recent enough to trust over a read that does not show it.
func (c *Cluster) lastUpdate(name string) (update, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.updates[name]
	if ok && c.clock.Now().Sub(u.at) > c.cfg.UpdateTTL {
		delete(c.updates, name)
		return update{}, false
	}
	return u, ok
}

// primaryDeployment returns the service's PRIMARY deployment (ECS lists
// it first; the search is for safety).
func primaryDeployment(svc *types.Service) types.Deployment {
	for _, d := range svc.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			return d
		}
	}
	return svc.Deployments[0]
}

// tasks lists the service's tasks that ECS means to keep running, with
// their details; a service that does not exist has none.
func (c *Cluster) tasks(ctx context.Context, name string) ([]types.Task, error) {
	var arns []string
	p := awsecs.NewListTasksPaginator(c.cli, &awsecs.ListTasksInput{Cluster: &c.cfg.Cluster, ServiceName: &name,
		DesiredStatus: types.DesiredStatusRunning})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if notFound := (*types.ServiceNotFoundException)(nil); errors.As(err, &notFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list tasks of service %s: %w", name, err)
		}
		arns = append(arns, page.TaskArns...)
	}
	var out []types.Task
	for batch := range slices.Chunk(arns, 100) {
		page, err := c.cli.DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: &c.cfg.Cluster, Tasks: batch})
		if err != nil {
			return nil, fmt.Errorf("describe tasks of service %s: %w", name, err)
		}
		out = append(out, page.Tasks...) // tasks gone meanwhile come back as failures
	}
	return out, nil
}

// taskDef returns what the task definition arn runs, from its tags.
// Task definitions never change, so the answer is kept.
func (c *Cluster) taskDef(ctx context.Context, arn string) (taskDefInfo, error) {
	c.mu.Lock()
	info, ok := c.defs[arn]
	c.mu.Unlock()
	if ok {
		return info, nil
	}
	out, err := c.cli.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: &arn,
		Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil {
		return taskDefInfo{}, fmt.Errorf("describe task definition %s: %w", arn, err)
	}
	info = infoFrom(arn, out.TaskDefinition, out.Tags)
	c.mu.Lock()
	c.defs[arn] = info
	c.mu.Unlock()
	return info, nil
}

func infoFrom(arn string, td *types.TaskDefinition, tags []types.Tag) taskDefInfo {
	var info taskDefInfo
	for _, t := range tags {
		switch aws.ToString(t.Key) {
		case TagProject:
			info.project = aws.ToString(t.Value)
		case TagBuild:
			info.build = aws.ToString(t.Value)
		case TagVersion:
			info.version = aws.ToString(t.Value)
		}
	}
	info.managed = info.version != "" && info.project != "" && info.build != ""
	if info.version == "" {
		// Not Mainline's: name it by family and revision.
		info.version = arn[strings.LastIndex(arn, "/")+1:]
	}
	if td != nil && len(td.ContainerDefinitions) > 0 {
		info.healthCheck = td.ContainerDefinitions[0].HealthCheck != nil
	}
	return info
}

// --- writing ECS ---

// register registers a new revision of the build's task definition family
// for spec and returns its ARN.
func (c *Cluster) register(ctx context.Context, spec providers.InstanceSpec) (string, error) {
	family := c.ServiceName(spec.Project, spec.Build)
	env := make([]types.KeyValuePair, 0, len(spec.Env))
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, types.KeyValuePair{Name: aws.String(k), Value: aws.String(spec.Env[k])})
	}
	ctr := types.ContainerDefinition{
		Name:         aws.String(clean(spec.Build)),
		Image:        aws.String(spec.Image),
		Essential:    aws.Bool(true),
		PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(int32(spec.Port)), Protocol: types.TransportProtocolTcp}},
		Environment:  env,
	}
	if len(c.cfg.HealthCheck) > 0 {
		path := cmp.Or(spec.HealthPath, "/")
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r := strings.NewReplacer("{port}", strconv.Itoa(spec.Port), "{path}", path)
		cmd := make([]string, len(c.cfg.HealthCheck))
		for i, a := range c.cfg.HealthCheck {
			cmd[i] = r.Replace(a)
		}
		// ECS takes whole seconds, 2 to 60.
		timeout := min(max(int32(math.Ceil(spec.HealthTimeout.Seconds())), 2), 60)
		if spec.HealthTimeout == 0 {
			timeout = 5
		}
		ctr.HealthCheck = &types.HealthCheck{Command: cmd, Interval: aws.Int32(max(10, timeout+1)), Timeout: aws.Int32(timeout), Retries: aws.Int32(3)}
	}
	tags := []types.Tag{
		{Key: aws.String(TagProject), Value: aws.String(spec.Project)},
		{Key: aws.String(TagBuild), Value: aws.String(spec.Build)},
		{Key: aws.String(TagVersion), Value: aws.String(spec.Version)},
	}
	in := &awsecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(family),
		ContainerDefinitions:    []types.ContainerDefinition{ctr},
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.Compatibility(c.cfg.LaunchType)},
		Cpu:                     aws.String(strconv.Itoa(c.cfg.CPU)),
		Memory:                  aws.String(strconv.Itoa(c.cfg.Memory)),
		Tags:                    tags,
	}
	if c.cfg.ExecutionRoleARN != "" {
		in.ExecutionRoleArn = aws.String(c.cfg.ExecutionRoleARN)
	}
	if c.cfg.TaskRoleARN != "" {
		in.TaskRoleArn = aws.String(c.cfg.TaskRoleARN)
	}
	out, err := c.cli.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", fmt.Errorf("register task definition %s for %s: %w", family, spec.Version, err)
	}
	if out.TaskDefinition == nil || out.TaskDefinition.TaskDefinitionArn == nil {
		return "", fmt.Errorf("register task definition %s for %s: no ARN in the answer", family, spec.Version)
	}
	arn := *out.TaskDefinition.TaskDefinitionArn
	c.mu.Lock()
	c.defs[arn] = infoFrom(arn, out.TaskDefinition, tags)
	c.registry[serviceVersion{family, spec.Version}] = arn
	c.mu.Unlock()
	c.log.Info("task definition registered", "project", spec.Project, "build", spec.Build, "version", spec.Version,
		"task_definition", arn[strings.LastIndex(arn, "/")+1:], "image", spec.Image)
	return arn, nil
}

// taskDefFor returns the task definition of spec's version: one this
// Cluster registered, or one a deployment of svc runs (after a restart),
// or a newly registered one.
func (c *Cluster) taskDefFor(ctx context.Context, spec providers.InstanceSpec, svc *types.Service) (string, error) {
	name := c.ServiceName(spec.Project, spec.Build)
	c.mu.Lock()
	arn, ok := c.registry[serviceVersion{name, spec.Version}]
	c.mu.Unlock()
	if ok {
		return arn, nil
	}
	if svc != nil {
		for _, d := range svc.Deployments {
			info, err := c.taskDef(ctx, aws.ToString(d.TaskDefinition))
			if err != nil {
				return "", err
			}
			if info.managed && info.version == spec.Version {
				return aws.ToString(d.TaskDefinition), nil
			}
		}
	}
	return c.register(ctx, spec)
}

// deploymentConfig is the rolling update configuration for n tasks.
func deploymentConfig(maxPercent, minPercent int32) *types.DeploymentConfiguration {
	return &types.DeploymentConfiguration{
		MaximumPercent:           aws.Int32(maxPercent),
		MinimumHealthyPercent:    aws.Int32(minPercent),
		DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true},
	}
}

// create creates the build's service running n tasks of spec's version.
func (c *Cluster) create(ctx context.Context, spec providers.InstanceSpec, n, surge, unavailable int) error {
	maxP, minP, err := DeploymentPercents(n, surge, unavailable)
	if err != nil {
		return err
	}
	td, err := c.taskDefFor(ctx, spec, nil)
	if err != nil {
		return err
	}
	name := c.ServiceName(spec.Project, spec.Build)
	// The same create, made again because reads did not show the first,
	// carries the same token, and ECS answers it with the service.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", name, td, n))
	in := &awsecs.CreateServiceInput{
		ClientToken:             aws.String(hex.EncodeToString(sum[:18])), // ECS takes up to 36 characters
		Cluster:                 &c.cfg.Cluster,
		ServiceName:             &name,
		TaskDefinition:          &td,
		DesiredCount:            aws.Int32(int32(n)),
		LaunchType:              c.cfg.LaunchType,
		DeploymentConfiguration: deploymentConfig(maxP, minP),
		Tags: []types.Tag{
			{Key: aws.String(TagProject), Value: aws.String(spec.Project)},
			{Key: aws.String(TagBuild), Value: aws.String(spec.Build)},
		},
	}
	if len(c.cfg.Subnets) > 0 {
		ip := types.AssignPublicIpDisabled
		if c.cfg.AssignPublicIP {
			ip = types.AssignPublicIpEnabled
		}
		in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: c.cfg.Subnets, SecurityGroups: c.cfg.SecurityGroups, AssignPublicIp: ip}}
	}
	if c.cfg.TargetGroup != nil {
		if tg := c.cfg.TargetGroup(spec.Project, spec.Build); tg != "" {
			in.LoadBalancers = []types.LoadBalancer{{TargetGroupArn: &tg, ContainerName: aws.String(clean(spec.Build)),
				ContainerPort: aws.Int32(int32(spec.Port))}}
			if c.cfg.HealthCheckGracePeriod > 0 {
				in.HealthCheckGracePeriodSeconds = aws.Int32(int32(math.Ceil(c.cfg.HealthCheckGracePeriod.Seconds())))
			}
		}
	}
	out, err := c.cli.CreateService(ctx, in)
	if err != nil {
		return fmt.Errorf("create service %s: %w", name, err)
	}
	c.remember(name, out.Service)
	c.log.Info("service created", "project", spec.Project, "build", spec.Build, "version", spec.Version, "service", name,
		"tasks", n, "maximum_percent", maxP, "minimum_healthy_percent", minP)
	return nil
}
