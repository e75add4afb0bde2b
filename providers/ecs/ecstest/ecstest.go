// Package ecstest is a fake of the Amazon ECS API for tests: an httptest
// server speaking ECS's JSON 1.1 wire protocol (POST /, X-Amz-Target
// AmazonEC2ContainerServiceV20141113.<Action>, application/x-amz-json-1.1),
// to which a real aws-sdk-go-v2 ecs.Client is pointed with BaseEndpoint.
//
// It models one cluster and the actions providers/ecs calls:
// RegisterTaskDefinition, DescribeTaskDefinition, CreateService,
// UpdateService, DescribeServices, ListTasks, DescribeTasks and StopTask,
// with ECS's JSON shapes and error shapes ({"__type": …, "message": …} with
// status 400). Any other request fails the test.
//
// Behind the API runs a small service scheduler that follows ECS's rolling
// update rules: it starts tasks of the PRIMARY deployment while at most
// floor(desired·maximumPercent/100) tasks run, stops tasks of older
// deployments while at least ceil(desired·minimumHealthyPercent/100) stay
// healthy, marks the PRIMARY deployment's rolloutState COMPLETED one step
// after its tasks were all running and healthy with nothing else running
// (so a read can show a finished-looking deployment still IN_PROGRESS,
// as ECS's can), and trips the
// deployment circuit breaker (FAILED, and a rollback deployment to the last
// completed task definition when rollback is on) after enough of its tasks
// failed. The world advances one step on every DescribeServices and
// ListTasks request, or when a test calls Step, so tests poll and never
// sleep. A task passes through PENDING, RUNNING with health UNKNOWN, then
// RUNNING and HEALTHY, each one step; a task of a failed image (FailImage)
// becomes UNHEALTHY instead and is stopped and replaced on the next step.
//
// Fault knobs: Throttle answers the next N requests with
// ThrottlingException; StaleReads answers the next N DescribeServices with
// each service as it was before its latest CreateService or UpdateService,
// as ECS's eventually consistent reads can.
//
// Tests of providers/ecs import it, and so may any test that needs an ECS
// cluster.
package ecstest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// targetPrefix is the X-Amz-Target prefix of every ECS action.
const targetPrefix = "AmazonEC2ContainerServiceV20141113."

// Region and Account are what the fake's ARNs say.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// ClusterName is the one cluster the fake holds.
const ClusterName = "mainline-test"

// Server is a fake ECS endpoint holding one cluster, ClusterName.
type Server struct {
	*httptest.Server
	t testing.TB

	mu        sync.Mutex
	now       time.Time // advances one second per step, for timestamps
	seq       int       // for ids
	families  map[string]int
	taskDefs  map[string]*taskDef // by ARN
	services  map[string]*service // by name
	tasks     map[string]*task    // by ARN
	taskOrder []string            // task ARNs in creation order
	failed    map[string]bool     // images whose tasks fail their health checks
	throttle  int
	staleNext int // stale reads to begin at the next change
	stale     int // stale reads left
	calls     map[string]int
	throttled int
}

// NewServer starts a fake ECS API and closes it when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:        t,
		now:      time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		families: map[string]int{},
		taskDefs: map[string]*taskDef{},
		services: map[string]*service{},
		tasks:    map[string]*task{},
		failed:   map[string]bool{},
		calls:    map[string]int{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Client returns a real ECS client pointed at the fake, with static
// credentials and the SDK's standard retryer (up to maxAttempts attempts,
// backing off at most a few milliseconds, so throttling costs tests no
// time). maxAttempts < 1 means the SDK's default, 3.
func (s *Server) Client(maxAttempts int) *ecs.Client {
	if maxAttempts < 1 {
		maxAttempts = retry.DefaultMaxAttempts
	}
	return ecs.New(ecs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
		HTTPClient:   s.Server.Client(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.Backoff = retry.NewExponentialJitterBackoff(5 * time.Millisecond)
		}),
	})
}

// FailImage makes every task of image fail its health checks from now on,
// as a version that never becomes healthy.
func (s *Server) FailImage(image string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[image] = true
}

// Throttle answers the next n requests, whatever their action, with a
// ThrottlingException.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// StaleReads makes the n DescribeServices requests that follow the next
// CreateService or UpdateService answer with every service as it was
// before its latest CreateService or UpdateService (a service that did not
// exist then is MISSING), as ECS's eventually consistent reads can right
// after a change. StaleReads(0) ends stale reads at once.
func (s *Server) StaleReads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staleNext = n
	if n == 0 {
		s.stale = 0
	}
}

// Calls reports how many requests of action the fake answered, throttled
// ones not counted.
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// Throttled reports how many requests were answered with a
// ThrottlingException.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// Step advances the scheduler one step.
func (s *Server) Step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step()
}

// TaskDefinition is a registered task definition, as tests inspect it.
type TaskDefinition struct {
	ARN             string
	Family          string
	Revision        int
	Image           string   // of the first container
	Port            int      // first container port
	Memory          string   // task-level memory, MiB
	HealthCheck     []string // the first container's health check command
	Environment     map[string]string
	Tags            map[string]string
	NetworkMode     string
	Compatibilities []string
}

// TaskDefinitions lists the registered task definitions in order.
func (s *Server) TaskDefinitions() []TaskDefinition {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TaskDefinition
	for _, td := range s.taskDefs {
		c := td.container()
		d := TaskDefinition{ARN: td.arn, Family: td.in.Family, Revision: td.revision, Image: c.Image,
			Memory: td.in.Memory, Tags: tagMap(td.tags), Environment: map[string]string{},
			NetworkMode: td.in.NetworkMode, Compatibilities: td.in.RequiresCompatibilities}
		if len(c.PortMappings) > 0 {
			d.Port = c.PortMappings[0].ContainerPort
		}
		if c.HealthCheck != nil {
			d.HealthCheck = c.HealthCheck.Command
		}
		for _, kv := range c.Environment {
			d.Environment[kv.Name] = kv.Value
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b TaskDefinition) int {
		return cmp.Or(strings.Compare(a.Family, b.Family), cmp.Compare(a.Revision, b.Revision))
	})
	return out
}

// Deployment is one deployment of a service, as tests inspect it.
type Deployment struct {
	ID             string
	Status         string // PRIMARY, ACTIVE
	TaskDefinition string
	RolloutState   string // IN_PROGRESS, COMPLETED, FAILED
	Reason         string
	Desired        int
	Running        int
	FailedTasks    int
}

// Service is a service's state, as tests inspect it.
type Service struct {
	Name                  string
	TaskDefinition        string
	DesiredCount          int
	MaximumPercent        int
	MinimumHealthyPercent int
	CircuitBreaker        bool // enabled with rollback
	Deployments           []Deployment
	// Deployments started, by CreateService and by UpdateService calls
	// that changed the task definition, and by circuit-breaker rollbacks.
	DeploymentsStarted int
	// PeakTasks is the most tasks that were ever running or pending at
	// once; MinHealthy the fewest healthy tasks after the service first
	// completed a deployment (-1 before that).
	PeakTasks  int
	MinHealthy int
}

// Service returns the service called name as it really is (never stale).
func (s *Server) Service(name string) (Service, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.services[name]
	if svc == nil {
		return Service{}, false
	}
	out := Service{Name: svc.name, TaskDefinition: svc.taskDef, DesiredCount: svc.desired,
		MaximumPercent: svc.cfg.MaximumPercent, MinimumHealthyPercent: svc.cfg.MinimumHealthyPercent,
		CircuitBreaker:     svc.cfg.DeploymentCircuitBreaker != nil && svc.cfg.DeploymentCircuitBreaker.Enable && svc.cfg.DeploymentCircuitBreaker.Rollback,
		DeploymentsStarted: svc.started, PeakTasks: svc.peak, MinHealthy: svc.minHealthy}
	for _, d := range svc.deployments {
		out.Deployments = append(out.Deployments, Deployment{ID: d.id, Status: d.status, TaskDefinition: d.taskDef,
			RolloutState: d.rollout, Reason: d.reason, Desired: d.desired, Running: s.count(svc, d, "RUNNING"), FailedTasks: d.failedTasks})
	}
	return out, true
}

// --- state ---

type taskDef struct {
	arn      string
	revision int
	in       registerInput
	tags     []kv
}

func (td *taskDef) container() containerDef {
	if len(td.in.ContainerDefinitions) == 0 {
		return containerDef{}
	}
	return td.in.ContainerDefinitions[0]
}

type service struct {
	arn, name   string
	taskDef     string
	desired     int
	cfg         deploymentConfig
	launchType  string
	createdAt   time.Time
	deployments []*deployment // PRIMARY first
	events      []event
	lastDone    string          // task definition of the last completed deployment
	before      json.RawMessage // the service as it was before the latest change; nil if created by it
	started     int
	peak        int
	minHealthy  int
	clientToken string                     // of the CreateService that made it
	extra       map[string]json.RawMessage // fields kept as given (networkConfiguration, loadBalancers, …)
}

type deployment struct {
	id          string
	status      string
	taskDef     string
	desired     int
	rollout     string
	reason      string
	failedTasks int
	steady      bool // its tasks all ran healthy, alone, at the last step
	createdAt   time.Time
	updatedAt   time.Time
}

type task struct {
	arn        string
	service    string
	deployment string
	taskDef    string
	last       string // PENDING, RUNNING, STOPPED
	desired    string // RUNNING, STOPPED
	health     string // UNKNOWN, HEALTHY, UNHEALTHY
	createdAt  time.Time
	startedAt  time.Time
	stoppedAt  time.Time
	stopReason string
}

type event struct {
	id      string
	at      time.Time
	message string
}

// --- wire shapes (the subset modelled) ---

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type portMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

type healthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval,omitempty"`
	Timeout     int      `json:"timeout,omitempty"`
	Retries     int      `json:"retries,omitempty"`
	StartPeriod int      `json:"startPeriod,omitempty"`
}

type containerDef struct {
	Name         string        `json:"name"`
	Image        string        `json:"image"`
	Essential    *bool         `json:"essential,omitempty"`
	Memory       int           `json:"memory,omitempty"`
	PortMappings []portMapping `json:"portMappings,omitempty"`
	Environment  []nameValue   `json:"environment,omitempty"`
	HealthCheck  *healthCheck  `json:"healthCheck,omitempty"`
}

type registerInput struct {
	Family                  string         `json:"family"`
	ContainerDefinitions    []containerDef `json:"containerDefinitions"`
	NetworkMode             string         `json:"networkMode,omitempty"`
	RequiresCompatibilities []string       `json:"requiresCompatibilities,omitempty"`
	CPU                     string         `json:"cpu,omitempty"`
	Memory                  string         `json:"memory,omitempty"`
	ExecutionRoleArn        string         `json:"executionRoleArn,omitempty"`
	TaskRoleArn             string         `json:"taskRoleArn,omitempty"`
	Tags                    []kv           `json:"tags,omitempty"`
}

type circuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

type deploymentConfig struct {
	MaximumPercent           int             `json:"maximumPercent,omitempty"`
	MinimumHealthyPercent    int             `json:"minimumHealthyPercent"`
	DeploymentCircuitBreaker *circuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
}

// failure is ECS's per-resource failure in Describe answers.
type failure struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
}

// apiError is an ECS error answer.
type apiError struct {
	status int
	code   string
	msg    string
}

func clientErr(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ClientException", fmt.Sprintf(format, args...)}
}

func invalidParam(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf(format, args...)}
}

// --- HTTP ---

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, targetPrefix)
	handler := s.handler(action)
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok || handler == nil {
		s.t.Errorf("ecstest: unexpected request %s %s (X-Amz-Target %q); the fake does not model it", r.Method, r.URL.Path, target)
		writeError(w, &apiError{http.StatusBadRequest, "UnknownOperationException", "ecstest does not model " + target})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		s.t.Errorf("ecstest: %s: Content-Type %q, want application/x-amz-json-1.1", action, ct)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s.t.Errorf("ecstest: %s: request not signed with SigV4", action)
		writeError(w, &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", "missing signature"})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException", "read body: " + err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle > 0 {
		s.throttle--
		s.throttled++
		writeError(w, &apiError{http.StatusBadRequest, "ThrottlingException", "Rate exceeded"})
		return
	}
	s.calls[action]++
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	out, apiErr := handler(dec)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		s.t.Errorf("ecstest: %s: encode answer: %v", action, err)
	}
}

// handler returns the function answering action, or nil. Handlers run with
// s.mu held.
func (s *Server) handler(action string) func(*json.Decoder) (any, *apiError) {
	switch action {
	case "RegisterTaskDefinition":
		return s.registerTaskDefinition
	case "DescribeTaskDefinition":
		return s.describeTaskDefinition
	case "CreateService":
		return s.createService
	case "UpdateService":
		return s.updateService
	case "DescribeServices":
		return s.describeServices
	case "ListTasks":
		return s.listTasks
	case "DescribeTasks":
		return s.describeTasks
	case "StopTask":
		return s.stopTask
	}
	return nil
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.msg})
}

func (s *Server) decode(dec *json.Decoder, v any) *apiError {
	if err := dec.Decode(v); err != nil && err != io.EOF {
		s.t.Errorf("ecstest: request body the fake does not model: %v", err)
		return &apiError{http.StatusBadRequest, "SerializationException", "ecstest: " + err.Error()}
	}
	return nil
}

func (s *Server) checkCluster(name string) *apiError {
	if name == "" || name == ClusterName || name == s.clusterARN() {
		return nil
	}
	return &apiError{http.StatusBadRequest, "ClusterNotFoundException", "Cluster not found."}
}

func (s *Server) clusterARN() string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", Region, Account, ClusterName)
}

func (s *Server) nextID() string {
	s.seq++
	return fmt.Sprintf("%016x", s.seq)
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// --- task definitions ---

func (s *Server) registerTaskDefinition(dec *json.Decoder) (any, *apiError) {
	var in registerInput
	if err := s.decode(dec, &in); err != nil {
		return nil, err
	}
	switch {
	case in.Family == "" || len(in.Family) > 255:
		return nil, clientErr("Family must be 1 to 255 letters, numbers, hyphens and underscores.")
	case strings.ContainsFunc(in.Family, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}):
		return nil, clientErr("Family contains invalid characters: %q", in.Family)
	case len(in.ContainerDefinitions) == 0:
		return nil, clientErr("Container list cannot be empty.")
	case slices.Contains(in.RequiresCompatibilities, "FARGATE") && (in.CPU == "" || in.Memory == "" || in.NetworkMode != "awsvpc"):
		return nil, clientErr("Fargate requires task definition to have execution role ARN to support ECR images, cpu and memory set, and networkMode awsvpc.")
	}
	for _, c := range in.ContainerDefinitions {
		if c.Name == "" || c.Image == "" {
			return nil, clientErr("Container.name and Container.image should not be null or empty.")
		}
		if hc := c.HealthCheck; hc != nil && (len(hc.Command) == 0 || hc.Timeout != 0 && (hc.Timeout < 2 || hc.Timeout > 60)) {
			return nil, clientErr("Invalid healthCheck for container %s.", c.Name)
		}
	}
	s.families[in.Family]++
	rev := s.families[in.Family]
	td := &taskDef{
		arn:      fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", Region, Account, in.Family, rev),
		revision: rev,
		in:       in,
		tags:     in.Tags,
	}
	td.in.Tags = nil
	s.taskDefs[td.arn] = td
	return map[string]any{"taskDefinition": s.taskDefJSON(td), "tags": orEmpty(td.tags)}, nil
}

func (s *Server) taskDefJSON(td *taskDef) map[string]any {
	m := map[string]any{
		"taskDefinitionArn":    td.arn,
		"family":               td.in.Family,
		"revision":             td.revision,
		"status":               "ACTIVE",
		"containerDefinitions": td.in.ContainerDefinitions,
		"registeredAt":         epoch(s.now),
	}
	if td.in.NetworkMode != "" {
		m["networkMode"] = td.in.NetworkMode
	}
	if len(td.in.RequiresCompatibilities) > 0 {
		m["requiresCompatibilities"] = td.in.RequiresCompatibilities
		m["compatibilities"] = td.in.RequiresCompatibilities
	}
	for k, v := range map[string]string{"cpu": td.in.CPU, "memory": td.in.Memory, "executionRoleArn": td.in.ExecutionRoleArn, "taskRoleArn": td.in.TaskRoleArn} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// lookupTaskDef finds a task definition by ARN, "family:revision" or
// "family" (the latest revision).
func (s *Server) lookupTaskDef(ref string) *taskDef {
	if td := s.taskDefs[ref]; td != nil {
		return td
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	if !hasRev {
		rev = strconv.Itoa(s.families[family])
	}
	return s.taskDefs[fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%s", Region, Account, family, rev)]
}

func (s *Server) describeTaskDefinition(dec *json.Decoder) (any, *apiError) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if err := s.decode(dec, &in); err != nil {
		return nil, err
	}
	td := s.lookupTaskDef(in.TaskDefinition)
	if td == nil {
		return nil, clientErr("Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": s.taskDefJSON(td)}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = orEmpty(td.tags)
	}
	return out, nil
}

// --- services ---

type serviceInput struct {
	Cluster                       string            `json:"cluster"`
	ServiceName                   string            `json:"serviceName"`
	Service                       string            `json:"service"`
	TaskDefinition                string            `json:"taskDefinition"`
	DesiredCount                  *int              `json:"desiredCount"`
	LaunchType                    string            `json:"launchType"`
	DeploymentConfiguration       *deploymentConfig `json:"deploymentConfiguration"`
	NetworkConfiguration          json.RawMessage   `json:"networkConfiguration"`
	LoadBalancers                 json.RawMessage   `json:"loadBalancers"`
	HealthCheckGracePeriodSeconds *int              `json:"healthCheckGracePeriodSeconds"`
	Tags                          []kv              `json:"tags"`
	PropagateTags                 string            `json:"propagateTags"`
	ClientToken                   string            `json:"clientToken"`
	ForceNewDeployment            bool              `json:"forceNewDeployment"`
}

func (s *Server) createService(dec *json.Decoder) (any, *apiError) {
	var in serviceInput
	if err := s.decode(dec, &in); err != nil {
		return nil, err
	}
	if err := s.checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if in.ServiceName == "" {
		return nil, invalidParam("Service name cannot be empty.")
	}
	if svc := s.services[in.ServiceName]; svc != nil {
		if in.ClientToken != "" && in.ClientToken == svc.clientToken {
			return map[string]any{"service": s.serviceJSON(svc)}, nil // a retry of the same create
		}
		return nil, invalidParam("Creation of service was not idempotent.")
	}
	td := s.lookupTaskDef(in.TaskDefinition)
	if td == nil {
		return nil, clientErr("TaskDefinition not found.")
	}
	desired := 0
	if in.DesiredCount != nil {
		desired = *in.DesiredCount
	}
	cfg := deploymentConfig{MaximumPercent: 200, MinimumHealthyPercent: 100}
	if in.DeploymentConfiguration != nil {
		if apiErr := checkDeploymentConfig(*in.DeploymentConfiguration); apiErr != nil {
			return nil, apiErr
		}
		cfg = *in.DeploymentConfiguration
	}
	svc := &service{
		arn:         fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, Account, ClusterName, in.ServiceName),
		name:        in.ServiceName,
		taskDef:     td.arn,
		desired:     desired,
		cfg:         cfg,
		launchType:  in.LaunchType,
		createdAt:   s.now,
		minHealthy:  -1,
		clientToken: in.ClientToken,
		extra:       map[string]json.RawMessage{},
	}
	for k, v := range map[string]json.RawMessage{"networkConfiguration": in.NetworkConfiguration, "loadBalancers": in.LoadBalancers} {
		if len(v) > 0 {
			svc.extra[k] = v
		}
	}
	s.services[svc.name] = svc
	s.changed()
	s.startDeployment(svc, td.arn)
	s.eventf(svc, "(service %s) was created.", svc.name)
	return map[string]any{"service": s.serviceJSON(svc)}, nil
}

func checkDeploymentConfig(c deploymentConfig) *apiError {
	if c.MinimumHealthyPercent < 0 || c.MinimumHealthyPercent > 100 {
		return invalidParam("minimumHealthyPercent must be between 0 and 100, got %d.", c.MinimumHealthyPercent)
	}
	if c.MaximumPercent != 0 && c.MaximumPercent < 100 {
		return invalidParam("maximumPercent must be at least 100, got %d.", c.MaximumPercent)
	}
	return nil
}

func (s *Server) updateService(dec *json.Decoder) (any, *apiError) {
	var in serviceInput
	if err := s.decode(dec, &in); err != nil {
		return nil, err
	}
	if err := s.checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	svc := s.services[in.Service]
	if svc == nil {
		return nil, &apiError{http.StatusBadRequest, "ServiceNotFoundException", "Service not found."}
	}
	before := s.serviceJSON(svc)
	var td *taskDef
	if in.TaskDefinition != "" {
		if td = s.lookupTaskDef(in.TaskDefinition); td == nil {
			return nil, clientErr("TaskDefinition not found.")
		}
	}
	if in.DeploymentConfiguration != nil {
		if apiErr := checkDeploymentConfig(*in.DeploymentConfiguration); apiErr != nil {
			return nil, apiErr
		}
		svc.cfg = *in.DeploymentConfiguration
		if svc.cfg.MaximumPercent == 0 {
			svc.cfg.MaximumPercent = 200
		}
	}
	if in.DesiredCount != nil {
		if *in.DesiredCount < 0 {
			return nil, invalidParam("desiredCount must be ≥ 0.")
		}
		svc.desired = *in.DesiredCount
		svc.deployments[0].desired = svc.desired
	}
	if td != nil && td.arn != svc.taskDef || in.ForceNewDeployment {
		if td != nil {
			svc.taskDef = td.arn
		}
		s.startDeployment(svc, svc.taskDef)
	}
	raw, _ := json.Marshal(before)
	svc.before = raw
	s.changed()
	return map[string]any{"service": s.serviceJSON(svc)}, nil
}

// changed starts the stale reads StaleReads asked for.
func (s *Server) changed() {
	if s.staleNext > 0 {
		s.stale, s.staleNext = s.staleNext, 0
	}
}

// startDeployment makes a new PRIMARY deployment of taskDef; the one that
// was primary becomes ACTIVE and is drained by the scheduler.
func (s *Server) startDeployment(svc *service, taskDef string) {
	for _, d := range svc.deployments {
		d.status = "ACTIVE"
	}
	id := "ecs-svc/" + s.nextID()
	d := &deployment{id: id, status: "PRIMARY", taskDef: taskDef, desired: svc.desired,
		rollout: "IN_PROGRESS", reason: "ECS deployment " + id + " in progress.",
		createdAt: s.now, updatedAt: s.now}
	svc.deployments = append([]*deployment{d}, svc.deployments...)
	svc.started++
}

func (s *Server) describeServices(dec *json.Decoder) (any, *apiError) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
		Include  []string `json:"include"`
	}
	if err := s.decode(dec, &in); err != nil {
		return nil, err
	}
	if err := s.checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, invalidParam("services must name 1 to 10 services.")
	}
	stale := s.stale > 0
	if stale {
		s.stale--
	} else {
		s.step()
	}
	services, failures := []any{}, []failure{}
	for _, name := range in.Services {
		name = name[strings.LastIndex(name, "/")+1:]
		svc := s.services[name]
		switch {
		case svc != nil && stale && svc.before != nil:
			services = append(services, svc.before)
		case svc == nil || stale && svc.before == nil:
			failures = append(failures, failure{Arn: fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, Account, ClusterName, name), Reason: "MISSING"})
		default:
			services = append(services, s.serviceJSON(svc))
		}
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (s *Server) serviceJSON(svc *service) map[string]any {
	deps := []map[string]any{}
	running, pending := 0, 0
	for _, d := range svc.deployments {
		r, p := s.count(svc, d, "RUNNING"), s.count(svc, d, "PENDING")
		running += r
		pending += p
		deps = append(deps, map[string]any{
			"id":                 d.id,
			"status":             d.status,
			"taskDefinition":     d.taskDef,
			"desiredCount":       d.desired,
			"runningCount":       r,
			"pendingCount":       p,
			"failedTasks":        d.failedTasks,
			"rolloutState":       d.rollout,
			"rolloutStateReason": d.reason,
			"createdAt":          epoch(d.createdAt),
			"updatedAt":          epoch(d.updatedAt),
			"launchType":         svc.launchType,
		})
	}
	events := []map[string]any{}
	for i := len(svc.events) - 1; i >= 0 && len(events) < 100; i-- {
		e := svc.events[i]
		events = append(events, map[string]any{"id": e.id, "createdAt": epoch(e.at), "message": e.message})
	}
	m := map[string]any{
		"serviceArn":              svc.arn,
		"serviceName":             svc.name,
		"clusterArn":              s.clusterARN(),
		"status":                  "ACTIVE",
		"desiredCount":            svc.desired,
		"runningCount":            running,
		"pendingCount":            pending,
		"taskDefinition":          svc.taskDef,
		"deploymentConfiguration": svc.cfg,
		"deploymentController":    map[string]string{"type": "ECS"},
		"schedulingStrategy":      "REPLICA",
		"deployments":             deps,
		"events":                  events,
		"createdAt":               epoch(svc.createdAt),
	}
	if svc.launchType != "" {
		m["launchType"] = svc.launchType
	}
	for k, v := range svc.extra {
		m[k] = v
	}
	return m
}

func (s *Server) eventf(svc *service, format string, args ...any) {
	svc.events = append(svc.events, event{id: s.nextID(), at: s.now, message: fmt.Sprintf(format, args...)})
}

// --- tasks ---

func (s *Server) listTasks(dec *json.Decoder) (any, *apiError) {
	var in struct {
		Cluster       string `json:"cluster"`
		ServiceName   string `json:"serviceName"`
		DesiredStatus string `json:"desiredStatus"`
		NextToken     string `json:"nextToken"`
		MaxResults    int    `json:"maxResults"`
	}
	if err := s.decode(dec, &in); err != nil {
		return nil, err
	}
	if err := s.checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if in.ServiceName != "" && s.services[in.ServiceName] == nil {
		return nil, &apiError{http.StatusBadRequest, "ServiceNotFoundException", "Service not found."}
	}
	if in.NextToken == "" {
		s.step()
	}
	want := cmp.Or(in.DesiredStatus, "RUNNING")
	var arns []string
	for _, arn := range s.taskOrder {
		tk := s.tasks[arn]
		if tk.desired == want && (in.ServiceName == "" || tk.service == in.ServiceName) {
			arns = append(arns, arn)
		}
	}
	// Pages of maxResults (default 100), the token being the offset: tests
	// with more than a page exercise the client's paging.
	size := in.MaxResults
	if size <= 0 || size > 100 {
		size = 100
	}
	from := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(arns) {
			return nil, invalidParam("Invalid nextToken.")
		}
		from = n
	}
	to := min(from+size, len(arns))
	out := map[string]any{"taskArns": orEmpty(arns[from:to])}
	if to < len(arns) {
		out["nextToken"] = strconv.Itoa(to)
	}
	return out, nil
}

func (s *Server) describeTasks(dec *json.Decoder) (any, *apiError) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
		Include []string `json:"include"`
	}
	if err := s.decode(dec, &in); err != nil {
		return nil, err
	}
	if err := s.checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > 100 {
		return nil, invalidParam("tasks must name 1 to 100 tasks.")
	}
	tasks, failures := []any{}, []failure{}
	for _, ref := range in.Tasks {
		tk := s.findTask(ref)
		if tk == nil {
			failures = append(failures, failure{Arn: ref, Reason: "MISSING"})
			continue
		}
		tasks = append(tasks, s.taskJSON(tk))
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

// findTask finds a task by ARN or id.
func (s *Server) findTask(ref string) *task {
	if tk := s.tasks[ref]; tk != nil {
		return tk
	}
	return s.tasks[fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", Region, Account, ClusterName, ref)]
}

func (s *Server) stopTask(dec *json.Decoder) (any, *apiError) {
	var in struct {
		Cluster string `json:"cluster"`
		Task    string `json:"task"`
		Reason  string `json:"reason"`
	}
	if err := s.decode(dec, &in); err != nil {
		return nil, err
	}
	if err := s.checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	tk := s.findTask(in.Task)
	if tk == nil {
		return nil, invalidParam("The referenced task was not found.")
	}
	if tk.desired != "STOPPED" {
		tk.desired = "STOPPED"
		tk.stopReason = cmp.Or(in.Reason, "Task stopped by user")
	}
	return map[string]any{"task": s.taskJSON(tk)}, nil
}

func (s *Server) taskJSON(tk *task) map[string]any {
	td := s.taskDefs[tk.taskDef]
	c := td.container()
	m := map[string]any{
		"taskArn":           tk.arn,
		"clusterArn":        s.clusterARN(),
		"taskDefinitionArn": tk.taskDef,
		"group":             "service:" + tk.service,
		"startedBy":         tk.deployment,
		"lastStatus":        tk.last,
		"desiredStatus":     tk.desired,
		"healthStatus":      tk.health,
		"createdAt":         epoch(tk.createdAt),
		"containers": []map[string]any{{
			"name": c.Name, "image": c.Image, "lastStatus": tk.last, "healthStatus": tk.health,
			"taskArn": tk.arn,
		}},
	}
	if !tk.startedAt.IsZero() {
		m["startedAt"] = epoch(tk.startedAt)
	}
	if !tk.stoppedAt.IsZero() {
		m["stoppedAt"] = epoch(tk.stoppedAt)
		m["stoppedReason"] = tk.stopReason
	}
	return m
}

// --- the scheduler ---

// step advances every service one step; s.mu is held.
func (s *Server) step() {
	s.now = s.now.Add(time.Second)
	for _, name := range slices.Sorted(maps.Keys(s.services)) {
		s.stepService(s.services[name])
	}
}

func (s *Server) stepService(svc *service) {
	// Task lives: stop what was asked to stop, move the rest one state on.
	for _, tk := range s.serviceTasks(svc) {
		d := s.deploymentOf(svc, tk)
		switch {
		case tk.desired == "STOPPED":
			tk.last, tk.stoppedAt = "STOPPED", s.now
		case tk.last == "PENDING":
			tk.last, tk.startedAt = "RUNNING", s.now
		case tk.last == "RUNNING" && tk.health == "UNKNOWN" && s.hasHealthCheck(tk):
			tk.health = "HEALTHY"
			if s.failed[s.taskDefs[tk.taskDef].container().Image] {
				tk.health = "UNHEALTHY"
			}
		case tk.health == "UNHEALTHY":
			tk.desired, tk.last, tk.stoppedAt = "STOPPED", "STOPPED", s.now
			tk.stopReason = "Task failed container health checks"
			if d != nil && d.rollout == "IN_PROGRESS" {
				d.failedTasks++
			}
		case tk.last == "RUNNING" && !s.hasHealthCheck(tk) && s.failed[s.taskDefs[tk.taskDef].container().Image]:
			// Without a container health check a failing task exits.
			tk.desired, tk.last, tk.stoppedAt = "STOPPED", "STOPPED", s.now
			tk.stopReason = "Essential container in task exited"
			if d != nil && d.rollout == "IN_PROGRESS" {
				d.failedTasks++
			}
		}
	}
	primary := svc.deployments[0]
	// The circuit breaker.
	if cb := svc.cfg.DeploymentCircuitBreaker; cb != nil && cb.Enable && primary.rollout == "IN_PROGRESS" &&
		primary.failedTasks >= min(max((primary.desired+1)/2, 3), 200) {
		primary.rollout, primary.updatedAt = "FAILED", s.now
		primary.reason = "ECS deployment circuit breaker: tasks failed to start."
		s.eventf(svc, "(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, primary.id)
		if cb.Rollback && svc.lastDone != "" && svc.lastDone != primary.taskDef {
			svc.taskDef = svc.lastDone
			s.startDeployment(svc, svc.lastDone)
			s.eventf(svc, "(service %s) rolling back to deployment %s.", svc.name, svc.deployments[0].id)
			primary = svc.deployments[0]
		}
	}

	maxTasks := svc.desired * cmp.Or(svc.cfg.MaximumPercent, 200) / 100
	minHealthy := (svc.desired*svc.cfg.MinimumHealthyPercent + 99) / 100
	live := s.liveTasks(svc)
	healthy := 0
	for _, tk := range live {
		if s.healthy(tk) {
			healthy++
		}
	}
	// Stop tasks of older deployments: the not yet healthy ones freely,
	// healthy ones while enough stay healthy.
	for _, tk := range live {
		if tk.deployment == primary.id {
			continue
		}
		if s.healthy(tk) {
			if healthy-1 < minHealthy {
				continue
			}
			healthy--
		}
		tk.desired, tk.stopReason = "STOPPED", "Scaling activity initiated by (deployment "+primary.id+")"
	}
	// Scale the primary deployment in, not yet healthy tasks first.
	mine := s.deploymentTasks(svc, primary)
	slices.SortStableFunc(mine, func(a, b *task) int { return boolInt(s.healthy(a)) - boolInt(s.healthy(b)) })
	for i := 0; i < len(mine)-primary.desired; i++ {
		if s.healthy(mine[i]) {
			healthy--
		}
		mine[i].desired, mine[i].stopReason = "STOPPED", "Scaling activity initiated by (deployment "+primary.id+")"
	}
	// Start tasks of the primary deployment while the maximum allows; tasks
	// still stopping count against it.
	total := len(s.serviceTasks(svc))
	for n := len(s.deploymentTasks(svc, primary)); n < primary.desired && total < maxTasks; n++ {
		s.startTask(svc, primary)
		total++
	}
	svc.peak = max(svc.peak, total)
	if svc.minHealthy >= 0 {
		svc.minHealthy = min(svc.minHealthy, healthy)
	}

	// Completion: the primary's tasks all run healthy and nothing else runs.
	mine = s.deploymentTasks(svc, primary)
	done := len(mine) == primary.desired && len(s.liveTasks(svc)) == len(mine)
	for _, tk := range mine {
		done = done && s.healthy(tk)
	}
	// ECS calls a deployment complete once the service has been steady a
	// while: here, on the step after the one that first found it so.
	steady := done && primary.steady
	primary.steady = done
	if steady && primary.rollout == "IN_PROGRESS" {
		primary.rollout, primary.updatedAt = "COMPLETED", s.now
		primary.reason = "ECS deployment " + primary.id + " completed."
		svc.lastDone = primary.taskDef
		svc.deployments = svc.deployments[:1]
		if svc.minHealthy < 0 {
			svc.minHealthy = healthy
		}
		s.eventf(svc, "(service %s) has reached a steady state.", svc.name)
	}
	// Drained old deployments leave the list once the primary settled.
	if primary.rollout != "IN_PROGRESS" {
		svc.deployments = slices.DeleteFunc(svc.deployments, func(d *deployment) bool {
			return d != primary && len(s.deploymentTasks(svc, d)) == 0 && primary.rollout == "COMPLETED"
		})
	}
}

func (s *Server) startTask(svc *service, d *deployment) {
	arn := fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", Region, Account, ClusterName, s.nextID()+s.nextID())
	s.tasks[arn] = &task{arn: arn, service: svc.name, deployment: d.id, taskDef: d.taskDef,
		last: "PENDING", desired: "RUNNING", health: "UNKNOWN", createdAt: s.now}
	s.taskOrder = append(s.taskOrder, arn)
}

func (s *Server) serviceTasks(svc *service) []*task {
	var out []*task
	for _, arn := range s.taskOrder {
		if tk := s.tasks[arn]; tk.service == svc.name && tk.last != "STOPPED" {
			out = append(out, tk)
		}
	}
	return out
}

// liveTasks are the service's tasks that are to keep running.
func (s *Server) liveTasks(svc *service) []*task {
	return slices.DeleteFunc(s.serviceTasks(svc), func(tk *task) bool { return tk.desired != "RUNNING" })
}

func (s *Server) deploymentTasks(svc *service, d *deployment) []*task {
	return slices.DeleteFunc(s.liveTasks(svc), func(tk *task) bool { return tk.deployment != d.id })
}

func (s *Server) deploymentOf(svc *service, tk *task) *deployment {
	for _, d := range svc.deployments {
		if d.id == tk.deployment {
			return d
		}
	}
	return nil
}

// count counts a deployment's tasks whose last status is status.
func (s *Server) count(svc *service, d *deployment, status string) int {
	n := 0
	for _, tk := range s.deploymentTasks(svc, d) {
		if tk.last == status {
			n++
		}
	}
	return n
}

func (s *Server) hasHealthCheck(tk *task) bool {
	return s.taskDefs[tk.taskDef].container().HealthCheck != nil
}

// healthy: running and, if the container has a health check, passing it.
func (s *Server) healthy(tk *task) bool {
	if tk.last != "RUNNING" || tk.desired != "RUNNING" {
		return false
	}
	if s.hasHealthCheck(tk) {
		return tk.health == "HEALTHY"
	}
	return true
}

func tagMap(tags []kv) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
