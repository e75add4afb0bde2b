package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy"
	"github.com/mainline-cd/mainline/deploy/config"
	"github.com/mainline-cd/mainline/providers"
)

// desire sets each build's desired state: the pinned version if a user
// pinned one, else the newest version that has an image for every build
// and is not rejected, times the build's instances. A paused project keeps
// its desired state. Ready means the desired state is recorded.
func (r *run) desire(ctx context.Context) (Outcome, error) {
	if r.project.Paused {
		return ready(), nil
	}
	target, setBy, why, err := r.chooseVersion(ctx)
	if err != nil {
		return Outcome{}, err
	}
	if target == "" {
		return waiting(0, "%s", why), nil
	}
	started := false
	for _, b := range r.cfg.Builds {
		changed, err := r.setDesired(ctx, b.Name, target, b.Instances, setBy)
		if errors.Is(err, store.ErrConflict) {
			return progress(0, "desired state of %s changed meanwhile", b.Name), nil
		}
		if err != nil {
			return Outcome{}, err
		}
		started = started || changed
	}
	if started {
		r.notify(ctx, "deploy_started", target, fmt.Sprintf("%s: deploying %s (%s)", r.project.Name, target, setBy))
	}
	return ready(), nil
}

// chooseVersion returns the version the project should run, who chose it,
// or why there is none.
func (r *run) chooseVersion(ctx context.Context) (version, setBy, why string, err error) {
	p := r.project
	if p.Pinned != "" {
		if missing, err := r.missingImage(ctx, p.Pinned); err != nil || missing != "" {
			return "", "", fmt.Sprintf("pinned version %s has no image for %s", p.Pinned, missing), err
		}
		return p.Pinned, "pin " + p.Pinned, "", nil
	}
	rejected, err := r.rejected(ctx)
	if err != nil {
		return "", "", "", err
	}
	for _, v := range r.versions(ctx) {
		if rejected[v] {
			continue
		}
		missing, err := r.missingImage(ctx, v)
		if err != nil {
			return "", "", "", err
		}
		if missing == "" {
			return v, "tag " + v, "", nil
		}
	}
	return "", "", "no version has images for every build yet", nil
}

// versions lists the project's version tags, newest first.
func (r *run) versions(ctx context.Context) []string {
	tags, err := r.c.Store.Tags(ctx, r.project.ID)
	if err != nil {
		r.log.Warn("list tags", "err", err)
		return nil
	}
	var vs []deploy.Version
	for _, t := range tags {
		if v, err := deploy.ParseVersion(t.Name); err == nil {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Compare(vs[j]) > 0 })
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

func (r *run) rejected(ctx context.Context) (map[string]bool, error) {
	rs, err := r.c.Store.Rejections(ctx, r.project.ID)
	if err != nil {
		return nil, fmt.Errorf("list rejected versions: %w", err)
	}
	out := map[string]bool{}
	for _, x := range rs {
		out[x.Version] = true
	}
	return out, nil
}

// missingImage names the first build without a succeeded image at version,
// or "" when every build has one.
func (r *run) missingImage(ctx context.Context, version string) (string, error) {
	for _, b := range r.cfg.Builds {
		rec, err := r.c.Store.Build(ctx, r.project.ID, b.Name, version)
		if errors.Is(err, store.ErrNotFound) {
			return b.Name, nil
		}
		if err != nil {
			return "", fmt.Errorf("load build %s@%s: %w", b.Name, version, err)
		}
		if rec.Status != store.BuildSucceeded {
			return b.Name, nil
		}
	}
	return "", nil
}

// setDesired writes a build's desired state if it differs, with
// compare-and-set, records the change as an event and reports whether the
// version changed.
func (r *run) setDesired(ctx context.Context, build, version string, instances int, setBy string) (bool, error) {
	c, p := r.c, r.project
	cur, err := c.Store.Desired(ctx, p.ID, build)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("load desired state of %s: %w", build, err)
	}
	if cur.Version == version && cur.Instances == instances {
		return false, nil
	}
	next := store.Desired{ProjectID: p.ID, Build: build, Version: version, Instances: instances,
		SetAt: c.Clock.Now().UTC(), SetBy: setBy, Revision: cur.Revision}
	if err := c.fenced(ctx, func(st store.Store) error { _, err := st.SetDesired(ctx, next); return err }); err != nil {
		return false, fmt.Errorf("set desired state of %s: %w", build, err)
	}
	if cur.Version != version {
		c.Metrics.DesiredChanged(causeOf(setBy))
	}
	return cur.Version != version, c.event(ctx, p, "desired_changed", "%s: desired %s (was %s), set by %s",
		build, times(version, instances), times(cur.Version, cur.Instances), setBy)
}

// times formats a desired state, "0.3.15 ×2", or "nothing".
func times(version string, instances int) string {
	if version == "" || instances == 0 {
		return "nothing"
	}
	return fmt.Sprintf("%s ×%d", version, instances)
}

// scale rolls each build one step towards its desired state, in
// depends_on order, and records the last state it observed. It never
// assumes a step worked: every run plans from what the cluster reports
// now. Ready means every build's last state equals its desired state.
func (r *run) scale(ctx context.Context) (Outcome, error) {
	c := r.c
	if len(r.cfg.Builds) == 0 {
		return ready(), nil // a library: tagged, never deployed
	}
	if c.Providers.Cluster == nil {
		return Outcome{}, stalled("no cluster configured")
	}
	deps := map[string][]string{}
	builds := map[string]config.Build{}
	for _, b := range r.cfg.Builds {
		deps[b.Name] = b.DependsOn
		builds[b.Name] = b
	}
	waves, err := deploy.BuildOrder(deps)
	if err != nil {
		return Outcome{}, stalled("%v", err)
	}
	inSync := map[string]bool{}
	var reasons []string
	for _, wave := range waves {
		for _, name := range wave {
			if dep, ok := deploy.Ready(name, deps, func(b string) bool { return inSync[b] }); !ok {
				d, _ := c.Store.Desired(ctx, r.project.ID, dep)
				reasons = append(reasons, fmt.Sprintf("%s: waiting for %s to reach %s (depends_on)", name, dep, d.Version))
				continue
			}
			done, reason, err := r.scaleBuild(ctx, builds[name])
			if err != nil {
				return Outcome{}, err
			}
			inSync[name] = done
			if !done {
				reasons = append(reasons, reason)
			}
		}
	}
	if len(reasons) > 0 {
		return progress(time.Second, "%s", strings.Join(reasons, "; ")), nil
	}
	return ready(), nil
}

// scaleBuild observes one build, records its last state, and takes the
// next step of the rolling plan. It reports whether the build is at its
// desired state.
func (r *run) scaleBuild(ctx context.Context, b config.Build) (bool, string, error) {
	c, p := r.c, r.project
	d, err := c.Store.Desired(ctx, p.ID, b.Name)
	if errors.Is(err, store.ErrNotFound) {
		return true, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("load desired state of %s: %w", b.Name, err)
	}
	if roller, ok := c.Providers.Cluster.(providers.Roller); ok {
		return r.rollWith(ctx, roller, b, d)
	}
	insts, err := c.Providers.Cluster.Instances(ctx, p.Name, b.Name)
	if err != nil {
		return false, "", fmt.Errorf("observe %s: %w", b.Name, err)
	}
	if err := r.recordLast(ctx, b.Name, insts); err != nil {
		return false, "", err
	}
	if failedHealth(insts, d.Version) {
		return false, "", r.rollback(ctx, d.Version, "failed health checks")
	}
	obs := make([]deploy.Observed, 0, len(insts))
	for _, in := range insts {
		if in.State == providers.InstanceStopping {
			continue
		}
		obs = append(obs, deploy.Observed{ID: in.ID, Version: in.Version, Health: health(in.State), StartedAt: in.StartedAt})
	}
	step := deploy.Plan(deploy.Target{Version: d.Version, Instances: d.Instances,
		MaxSurge: b.Rollout.MaxSurge, MaxUnavailable: b.Rollout.MaxUnavailable}, obs)
	if step.Done() {
		return true, "", nil
	}
	if step.Start > 0 {
		rec, err := c.Store.Build(ctx, p.ID, b.Name, step.StartVersion)
		if err != nil {
			return false, "", fmt.Errorf("image of %s@%s: %w", b.Name, step.StartVersion, err)
		}
		// Every instance knows its version, so it can say which one answered.
		env := maps.Clone(b.Env)
		if env == nil {
			env = map[string]string{}
		}
		env["MAINLINE_VERSION"] = step.StartVersion
		spec := providers.InstanceSpec{Project: p.Name, Build: b.Name, Version: step.StartVersion, Image: rec.Image,
			Port: b.Port, HealthPath: b.Health.Path, HealthTimeout: time.Duration(b.Health.Timeout),
			HealthInterval: time.Duration(b.Health.Interval), HealthyThreshold: b.Health.Threshold, Env: env}
		for range step.Start {
			if err := c.checkFence(ctx, "start "+b.Name+"@"+step.StartVersion); err != nil {
				return false, "", err
			}
			if _, err := c.Providers.Cluster.Start(ctx, spec); err != nil {
				return false, "", fmt.Errorf("start %s@%s: %w", b.Name, step.StartVersion, err)
			}
		}
	}
	for _, id := range step.Stop {
		if err := c.checkFence(ctx, "stop "+b.Name+" instance "+short(id)); err != nil {
			return false, "", err
		}
		if err := c.Providers.Cluster.Stop(ctx, id); err != nil {
			return false, "", fmt.Errorf("stop %s instance %s: %w", b.Name, short(id), err)
		}
	}
	healthy := 0
	for _, in := range insts {
		if in.Version == d.Version && in.State == providers.InstanceHealthy {
			healthy++
		}
	}
	reason := fmt.Sprintf("%s: rolling to %s (%d/%d healthy): %s", b.Name, d.Version, healthy, d.Instances, step.Reason)
	r.log.Info("rollout step", "build", b.Name, "version", d.Version, "start", step.Start, "stop", len(step.Stop), "reason", step.Reason)
	return false, reason, nil
}

// failedHealth reports whether version is failing: some of its instances
// are unhealthy and none is healthy or still starting. Such a version will
// not become healthy by waiting.
func failedHealth(insts []providers.Instance, version string) bool {
	unhealthy, alive := 0, 0
	for _, in := range insts {
		if in.Version != version {
			continue
		}
		switch in.State {
		case providers.InstanceUnhealthy:
			unhealthy++
		case providers.InstanceHealthy, providers.InstanceStarting:
			alive++
		}
	}
	return unhealthy > 0 && alive == 0
}

func health(s providers.InstanceState) deploy.Health {
	switch s {
	case providers.InstanceHealthy:
		return deploy.Healthy
	case providers.InstanceUnhealthy:
		return deploy.Unhealthy
	}
	return deploy.Starting
}

// recordLast stores the healthy instances per version when they changed.
func (r *run) recordLast(ctx context.Context, build string, insts []providers.Instance) error {
	versions := map[string]int{}
	for _, in := range insts {
		if in.State == providers.InstanceHealthy {
			versions[in.Version]++
		}
	}
	return r.recordVersions(ctx, build, versions)
}

// recordVersions stores a build's last state, instances per version, when
// it changed.
func (r *run) recordVersions(ctx context.Context, build string, versions map[string]int) error {
	c, p := r.c, r.project
	if versions == nil {
		versions = map[string]int{}
	}
	prev, err := c.Store.Last(ctx, p.ID, build)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load last state of %s: %w", build, err)
	}
	if err == nil && maps.Equal(prev.Versions, versions) {
		return nil
	}
	l := store.Last{ProjectID: p.ID, Build: build, Versions: versions, ObservedAt: c.Clock.Now().UTC()}
	if err := c.Store.SetLast(ctx, l); err != nil {
		return fmt.Errorf("record last state of %s: %w", build, err)
	}
	return nil
}

// rollback rejects version and sets every build's desired state back to
// the previous good version — in the desired state, the one source of
// truth, so the controller never fights its own rollback.
func (r *run) rollback(ctx context.Context, version, why string) error {
	c, p := r.c, r.project
	now := c.Clock.Now().UTC()
	if err := c.Store.Reject(ctx, store.Rejection{ProjectID: p.ID, Version: version, Reason: why, At: now}); err != nil {
		return fmt.Errorf("reject %s: %w", version, err)
	}
	prev, err := r.previousGood(ctx, version)
	if err != nil {
		return err
	}
	if p.Pinned == version {
		p.Pinned = ""
		if err := c.Store.UpdateProject(ctx, p); err != nil {
			return fmt.Errorf("unpin %s: %w", version, err)
		}
		r.project = p
	}
	for _, b := range r.cfg.Builds {
		instances := b.Instances
		if prev == "" {
			instances = 0
		}
		if _, err := r.setDesired(ctx, b.Name, prev, instances, "rollback"); err != nil {
			return err
		}
	}
	msg := fmt.Sprintf("%s %s; rolled back to %s", version, why, prev)
	if prev == "" {
		msg = fmt.Sprintf("%s %s; no earlier good version to roll back to, stopped it", version, why)
	}
	r.notify(ctx, "rolled_back", version, p.Name+": "+msg)
	return c.event(ctx, p, "rolled_back", "%s", msg)
}

// previousGood is the version to return to from current (see
// PreviousGood), skipping versions whose images are gone.
func (r *run) previousGood(ctx context.Context, current string) (string, error) {
	return previousGood(ctx, r.c.Store, r.project.ID, current, func(v string) (bool, error) {
		missing, err := r.missingImage(ctx, v)
		return missing == "", err
	})
}
