// Package ecs runs builds on Amazon ECS: Cluster is a providers.Cluster and
// a providers.Roller over the ECS API of aws-sdk-go-v2.
//
// Each build is one ECS service, named "<project>-<build>" unless
// Config.Service says otherwise, and each version one revision of the task
// definition family of the same name: the container image by digest, the
// service's port, the task's memory and CPU, and a container health check
// when Config.HealthCheck gives its command (otherwise the load balancer's
// target group health gates the deployment). Task definitions are tagged
// with the project, build and version, which is how running tasks and
// deployments are mapped back to versions, by this process or a restarted
// one.
//
// Rollouts are ECS's own rolling deployments (see Cluster.Rollout): the
// service is updated to the version's task definition with maximumPercent
// and minimumHealthyPercent mapped from max_surge and max_unavailable (see
// DeploymentPercents) and the deployment circuit breaker on, with
// rollback. A rollout is done only when DescribeServices shows the PRIMARY
// deployment COMPLETED with every task running and healthy, and failed when
// it shows the deployment FAILED; it is polled until then, never judged
// from one answer.
//
// Throttling is retried by the SDK's retryer (the standard retryer of an
// ecs.Client retries ThrottlingException with back-off; give it more
// attempts with ecs.Options.RetryMaxAttempts for busy accounts). ECS's reads
// are eventually consistent: a DescribeServices right after an update can
// still show the service as it was. A Cluster remembers the last update it
// made to each service and reads again (Config.StaleReads) until the answer
// shows it, so that an old, completed deployment is never taken for the new
// one and an update is not made twice.
//
// The step-by-step providers.Cluster methods map onto an ECS service as
// well as they can, since ECS, not the caller, places and replaces tasks:
// Instances lists the service's tasks; Start raises the service's desired
// count by one, and only when the version is already the PRIMARY
// deployment (or creates the service at one task); Stop stops the task and
// lowers the desired count by one. Callers should prefer Rollout.
//
// Tests drive a real ecs.Client against the fake in package ecstest.
package ecs
