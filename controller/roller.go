package controller

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy/config"
	"github.com/mainline-cd/mainline/providers"
)

// rollWith hands a build's rollout to a cluster that rolls out by itself
// (providers.Roller, e.g. Amazon ECS) instead of planning start and stop
// steps here. It is level-triggered like the planner: every call observes
// again, the last state is what the cluster reports, and a rollout the
// cluster gave up on is rolled back in the desired state, as a failed
// health check is. It reports whether the build is at its desired state.
func (r *run) rollWith(ctx context.Context, roller providers.Roller, b config.Build, d store.Desired) (bool, string, error) {
	c, p := r.c, r.project
	rec, err := c.Store.Build(ctx, p.ID, b.Name, d.Version)
	if err != nil {
		return false, "", fmt.Errorf("image of %s@%s: %w", b.Name, d.Version, err)
	}
	image := rec.Image
	if rec.Digest != "" && !hasDigest(image) {
		image = repoOf(image) + "@" + rec.Digest
	}
	env := maps.Clone(b.Env)
	if env == nil {
		env = map[string]string{}
	}
	env["MAINLINE_VERSION"] = d.Version
	spec := providers.InstanceSpec{Project: p.Name, Build: b.Name, Version: d.Version, Image: image,
		Port: b.Port, HealthPath: b.Health.Path, HealthTimeout: time.Duration(b.Health.Timeout),
		HealthInterval: time.Duration(b.Health.Interval), HealthyThreshold: b.Health.Threshold, Env: env}
	st, err := roller.Rollout(ctx, spec, d.Instances, b.Rollout.MaxSurge, b.Rollout.MaxUnavailable)
	if err != nil {
		return false, "", fmt.Errorf("roll out %s@%s: %w", b.Name, d.Version, err)
	}
	if err := r.recordVersions(ctx, b.Name, st.Versions); err != nil {
		return false, "", err
	}
	switch {
	case st.Failed:
		return false, "", r.rollback(ctx, d.Version, "failed to roll out: "+st.Reason)
	case st.Done:
		return true, "", nil
	}
	return false, fmt.Sprintf("%s: rolling to %s: %s", b.Name, d.Version, st.Reason), nil
}

// hasDigest reports whether an image reference is pinned by digest.
func hasDigest(image string) bool {
	for i := len(image) - 1; i >= 0 && image[i] != '/'; i-- {
		if image[i] == '@' {
			return true
		}
	}
	return false
}

// repoOf strips the tag from an image reference: registry/repo:tag →
// registry/repo (a port in the registry host is kept).
func repoOf(image string) string {
	for i := len(image) - 1; i >= 0 && image[i] != '/'; i-- {
		if image[i] == ':' {
			return image[:i]
		}
	}
	return image
}
