package ecs

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/mainline-cd/mainline/providers"
)

// Rollout moves the build's service to instances tasks of spec's version
// with an ECS rolling deployment, and reports where it stands.
//
// The first call registers the version's task definition and creates or
// updates the service (desired count, maximumPercent and
// minimumHealthyPercent from DeploymentPercents, circuit breaker with
// rollback on). Later calls with the same arguments only observe: the
// rollout is Done when the PRIMARY deployment runs the version, its
// rolloutState is COMPLETED, its running count is its desired count and
// instances, no other deployment runs tasks, and every task the service
// runs is of that version and healthy. It has Failed when ECS marked a
// deployment of the version FAILED (the circuit breaker tripped; ECS then
// rolls back to the last completed deployment by itself); Reason is ECS's
// rolloutStateReason. The failure is remembered until Rollout is called for
// another version of the build, so the bad version is not tried again
// meanwhile. Versions counts running tasks per version from the
// deployments.
//
// A read that does not show yet the update this Cluster just made is read
// again (Config.StaleReads); if it still does not, Rollout reports that it
// waits, and neither updates the service again nor judges the rollout
// from the old deployments.
func (c *Cluster) Rollout(ctx context.Context, spec providers.InstanceSpec, instances, maxSurge, maxUnavailable int) (providers.RolloutStatus, error) {
	what := fmt.Sprintf("rollout %s/%s@%s", spec.Project, spec.Build, spec.Version)
	if err := validSpec(spec); err != nil {
		return providers.RolloutStatus{}, fmt.Errorf("%s: %w", what, err)
	}
	maxP, minP, err := DeploymentPercents(instances, maxSurge, maxUnavailable)
	if err != nil {
		return providers.RolloutStatus{}, fmt.Errorf("%s: %w", what, err)
	}
	name := c.ServiceName(spec.Project, spec.Build)
	known, failed := c.failure(name, spec.Version)

	svc, fresh, err := c.observe(ctx, name)
	if err != nil {
		return providers.RolloutStatus{}, fmt.Errorf("%s: %w", what, err)
	}
	if failed {
		st, err := c.versions(ctx, svc)
		st.Failed, st.Reason = true, known
		return st, err
	}
	if !fresh {
		return c.waitingForECS(ctx, svc, name)
	}
	if svc == nil && instances == 0 {
		return providers.RolloutStatus{Done: true, Reason: "no service, and none wanted", Versions: map[string]int{}}, nil
	}
	if svc == nil {
		if err := c.create(ctx, spec, instances, maxSurge, maxUnavailable); err != nil {
			return providers.RolloutStatus{}, fmt.Errorf("%s: %w", what, err)
		}
		return c.observeStatus(ctx, name, spec.Version, instances)
	}
	if reason, ok, err := c.failedDeployment(ctx, svc, spec.Version); err != nil {
		return providers.RolloutStatus{}, fmt.Errorf("%s: %w", what, err)
	} else if ok {
		c.setFailure(name, spec.Version, reason)
		c.log.Warn("rollout failed", "project", spec.Project, "build", spec.Build, "version", spec.Version, "reason", reason)
		st, err := c.versions(ctx, svc)
		st.Failed, st.Reason = true, reason
		return st, err
	}

	primary := primaryDeployment(svc)
	info, err := c.taskDef(ctx, aws.ToString(primary.TaskDefinition))
	if err != nil {
		return providers.RolloutStatus{}, fmt.Errorf("%s: %w", what, err)
	}
	in := &awsecs.UpdateServiceInput{Cluster: &c.cfg.Cluster, Service: &name}
	changed := false
	if !info.managed || info.version != spec.Version {
		td, err := c.taskDefFor(ctx, spec, svc)
		if err != nil {
			return providers.RolloutStatus{}, fmt.Errorf("%s: %w", what, err)
		}
		in.TaskDefinition, changed = &td, true
	}
	if svc.DesiredCount != int32(instances) {
		changed = true
	}
	if dc := svc.DeploymentConfiguration; dc == nil || aws.ToInt32(dc.MaximumPercent) != maxP || aws.ToInt32(dc.MinimumHealthyPercent) != minP ||
		dc.DeploymentCircuitBreaker == nil || !dc.DeploymentCircuitBreaker.Enable || !dc.DeploymentCircuitBreaker.Rollback {
		changed = true
	}
	if changed {
		in.DesiredCount = aws.Int32(int32(instances))
		in.DeploymentConfiguration = deploymentConfig(maxP, minP)
		out, err := c.cli.UpdateService(ctx, in)
		if err != nil {
			return providers.RolloutStatus{}, fmt.Errorf("%s: update service %s: %w", what, name, err)
		}
		c.remember(name, out.Service)
		c.log.Info("service updated", "project", spec.Project, "build", spec.Build, "version", spec.Version, "service", name,
			"new_deployment", in.TaskDefinition != nil, "tasks", instances, "maximum_percent", maxP, "minimum_healthy_percent", minP)
		return c.observeStatus(ctx, name, spec.Version, instances)
	}
	return c.status(ctx, svc, spec.Version, instances)
}

// observeStatus reads the service again after an update and reports the
// rollout's status.
func (c *Cluster) observeStatus(ctx context.Context, name, version string, instances int) (providers.RolloutStatus, error) {
	svc, fresh, err := c.observe(ctx, name)
	if err != nil {
		return providers.RolloutStatus{}, fmt.Errorf("rollout of service %s to %s: %w", name, version, err)
	}
	if !fresh || svc == nil {
		return c.waitingForECS(ctx, svc, name)
	}
	return c.status(ctx, svc, version, instances)
}

// waitingForECS is the status while reads lag behind an update.
func (c *Cluster) waitingForECS(ctx context.Context, svc *types.Service, name string) (providers.RolloutStatus, error) {
	st, err := c.versions(ctx, svc)
	st.Reason = fmt.Sprintf("waiting for ECS to show the update of service %s", name)
	return st, err
}

// status judges a rollout to version from a fresh read of the service.
func (c *Cluster) status(ctx context.Context, svc *types.Service, version string, instances int) (providers.RolloutStatus, error) {
	st, err := c.versions(ctx, svc)
	if err != nil {
		return st, err
	}
	primary := primaryDeployment(svc)
	info, err := c.taskDef(ctx, aws.ToString(primary.TaskDefinition))
	if err != nil {
		return st, err
	}
	others := slices.ContainsFunc(svc.Deployments, func(d types.Deployment) bool {
		return aws.ToString(d.Id) != aws.ToString(primary.Id) && d.RunningCount+d.PendingCount > 0
	})
	switch {
	case info.version != version:
		st.Reason = fmt.Sprintf("waiting for %s to become the primary deployment (it is %s)", version, info.version)
	case primary.RolloutState == types.DeploymentRolloutStateFailed:
		st.Failed, st.Reason = true, cmpReason(primary)
	case primary.RolloutState != types.DeploymentRolloutStateCompleted:
		st.Reason = fmt.Sprintf("%s: %d/%d tasks running, deployment %s", version, primary.RunningCount, instances,
			strings.ToLower(string(primary.RolloutState)))
	case primary.DesiredCount != int32(instances) || primary.RunningCount != int32(instances):
		st.Reason = fmt.Sprintf("%s: %d/%d tasks running", version, primary.RunningCount, instances)
	case others:
		st.Reason = fmt.Sprintf("%s: older deployments still running", version)
	default:
		healthy, other, err := c.health(ctx, aws.ToString(svc.ServiceName), aws.ToString(primary.TaskDefinition))
		if err != nil {
			return st, err
		}
		switch {
		case other > 0:
			st.Reason = fmt.Sprintf("%s: %d tasks of other versions still running", version, other)
		case healthy != instances:
			st.Reason = fmt.Sprintf("%s: %d/%d tasks healthy", version, healthy, instances)
		default:
			st.Done, st.Reason = true, fmt.Sprintf("%s: %d/%d tasks running and healthy", version, healthy, instances)
		}
	}
	return st, nil
}

func cmpReason(d types.Deployment) string {
	if r := aws.ToString(d.RolloutStateReason); r != "" {
		return r
	}
	return "ECS deployment " + aws.ToString(d.Id) + " failed"
}

// versions counts running tasks per version from svc's deployments.
func (c *Cluster) versions(ctx context.Context, svc *types.Service) (providers.RolloutStatus, error) {
	st := providers.RolloutStatus{Versions: map[string]int{}}
	if svc == nil {
		return st, nil
	}
	for _, d := range svc.Deployments {
		if d.RunningCount == 0 {
			continue
		}
		info, err := c.taskDef(ctx, aws.ToString(d.TaskDefinition))
		if err != nil {
			return st, err
		}
		st.Versions[info.version] += int(d.RunningCount)
	}
	return st, nil
}

// health counts the service's tasks of taskDef that are healthy, and the
// tasks of any other task definition still meant to run.
func (c *Cluster) health(ctx context.Context, name, taskDef string) (healthy, other int, err error) {
	tasks, err := c.tasks(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	for _, tk := range tasks {
		if aws.ToString(tk.TaskDefinitionArn) != taskDef {
			other++
			continue
		}
		info, err := c.taskDef(ctx, taskDef)
		if err != nil {
			return 0, 0, err
		}
		if taskState(tk, info) == providers.InstanceHealthy {
			healthy++
		}
	}
	return healthy, other, nil
}

// failedDeployment reports a FAILED deployment of version, unless the
// PRIMARY deployment is a live attempt at version (a new try after an
// earlier failure).
func (c *Cluster) failedDeployment(ctx context.Context, svc *types.Service, version string) (string, bool, error) {
	primary := primaryDeployment(svc)
	pinfo, err := c.taskDef(ctx, aws.ToString(primary.TaskDefinition))
	if err != nil {
		return "", false, err
	}
	if pinfo.version == version && primary.RolloutState != types.DeploymentRolloutStateFailed {
		return "", false, nil
	}
	for _, d := range svc.Deployments {
		if d.RolloutState != types.DeploymentRolloutStateFailed {
			continue
		}
		info, err := c.taskDef(ctx, aws.ToString(d.TaskDefinition))
		if err != nil {
			return "", false, err
		}
		if info.version != version {
			continue
		}
		reason := cmpReason(d)
		if pinfo.version != version {
			reason += "; ECS rolled back to " + pinfo.version
		}
		return reason, true, nil
	}
	return "", false, nil
}

// failure returns the remembered failure of version on the service, and
// forgets failures of other versions: a rollout to another version means
// the caller has moved on, and may come back to this one on purpose.
func (c *Cluster) failure(name, version string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.failures[name]
	if !ok {
		return "", false
	}
	if f.version != version {
		delete(c.failures, name)
		return "", false
	}
	return f.reason, true
}

func (c *Cluster) setFailure(name, version, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures[name] = failure{version, reason}
}
