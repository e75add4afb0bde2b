// Package clustertest is a conformance suite for providers.Cluster
// implementations, in the manner of testing/fstest: Run starts, observes
// and stops instances through the interface only and reports every way the
// implementation strays from the contract both the local Docker cluster and
// the ECS cluster keep.
//
// What every Cluster must do:
//   - Instances of a build that was never started is empty, not an error.
//   - Start refuses a spec without an image or a version, and starts
//     nothing.
//   - Start returns an instance of the spec's project, build and version
//     that is starting (or already healthy); Instances then lists it, and
//     it becomes healthy. The ID Start returns may be empty when the
//     cluster places instances itself (ECS); the ID Instances lists never
//     is.
//   - Instances outlive the Cluster value: a new value over the same
//     backend (a restarted controller) lists the same instances.
//   - Stop removes the instance from Instances (or lists it as stopping),
//     leaves the others healthy, and stopping it again is not an error.
//   - An instance that fails its health checks is reported unhealthy and
//     never healthy.
//   - Endpoint returns an absolute URL.
//
// Tests of the cluster providers import it (providers/docker,
// providers/ecs).
package clustertest

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

// Project is the project name every instance the suite starts belongs to.
const Project = "conformance"

// Harness connects Run to one implementation.
type Harness struct {
	// New returns a Cluster over the backend under test. Run calls it more
	// than once in a test; every value must see the same instances, as a
	// restarted controller would. Closing it is the harness's business.
	New func(t *testing.T) providers.Cluster
	// Spec returns a spec of Project's build at version whose instances
	// become healthy, or, if healthy is false, keep failing their health
	// checks. The harness removes whatever the suite leaves running.
	Spec func(t *testing.T, build, version string, healthy bool) providers.InstanceSpec
	// Timeout bounds every wait, only so that a broken implementation
	// cannot hang the test; nothing is asserted about how long anything
	// takes. Default 2 minutes.
	Timeout time.Duration
	// Poll is the pause between two observations; default 20ms.
	Poll time.Duration
}

// Run runs the suite, each part as a subtest.
func Run(t *testing.T, h Harness) {
	h.Timeout = cmp.Or(h.Timeout, 2*time.Minute)
	h.Poll = cmp.Or(h.Poll, 20*time.Millisecond)
	t.Run("NoInstances", h.testNoInstances)
	t.Run("InvalidSpec", h.testInvalidSpec)
	t.Run("StartObserveStop", h.testStartObserveStop)
	t.Run("Unhealthy", h.testUnhealthy)
}

func (h Harness) testNoInstances(t *testing.T) {
	c := h.New(t)
	got, err := c.Instances(t.Context(), Project, "never-started")
	if err != nil {
		t.Fatalf("Instances of a build never started: %v, want no error", err)
	}
	if len(got) != 0 {
		t.Errorf("Instances of a build never started = %v, want none", got)
	}
}

func (h Harness) testInvalidSpec(t *testing.T) {
	c := h.New(t)
	good := h.Spec(t, "invalid", "1.0.0", true)
	for _, tc := range []struct {
		name string
		edit func(*providers.InstanceSpec)
	}{
		{"no image", func(s *providers.InstanceSpec) { s.Image = "" }},
		{"no version", func(s *providers.InstanceSpec) { s.Version = "" }},
		{"no build", func(s *providers.InstanceSpec) { s.Build = "" }},
	} {
		spec := good
		tc.edit(&spec)
		if inst, err := c.Start(t.Context(), spec); err == nil {
			t.Errorf("Start with %s = %+v, nil; want an error", tc.name, inst)
		}
	}
	got, err := c.Instances(t.Context(), Project, good.Build)
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("after refused Starts, Instances = %v, want none", got)
	}
}

func (h Harness) testStartObserveStop(t *testing.T) {
	ctx := t.Context()
	c := h.New(t)
	spec := h.Spec(t, "api", "1.0.0", true)

	inst, err := c.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	checkInstance(t, "Start", inst, spec, false)
	if inst.State != providers.InstanceStarting && inst.State != providers.InstanceHealthy {
		t.Errorf("Start returned state %q, want starting or healthy", inst.State)
	}
	first := h.waitHealthy(t, c, spec, 1)

	if _, err := c.Start(ctx, spec); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	both := h.waitHealthy(t, c, spec, 2)
	if !slices.Contains(both, first[0]) {
		t.Errorf("after a second Start, instances %v no longer include the first, %s", both, first[0])
	}

	// A restarted controller: a new Cluster value sees the same instances.
	c2 := h.New(t)
	again := h.waitHealthy(t, c2, spec, 2)
	if !slices.Equal(again, both) {
		t.Errorf("a new Cluster lists instances %v, want the same as before, %v", again, both)
	}

	u, err := c2.Endpoint(ctx, Project, spec.Build)
	if err != nil {
		t.Errorf("Endpoint: %v", err)
	} else if p, err := url.Parse(u); err != nil || !p.IsAbs() || p.Host == "" {
		t.Errorf("Endpoint = %q, want an absolute URL", u)
	}

	gone, kept := both[0], both[1]
	if err := c2.Stop(ctx, gone); err != nil {
		t.Fatalf("Stop(%s): %v", gone, err)
	}
	h.waitFor(t, fmt.Sprintf("only %s to remain after stopping %s", kept, gone), func() (bool, error) {
		list, err := c2.Instances(ctx, Project, spec.Build)
		if err != nil {
			return false, err
		}
		var live []providers.Instance
		for _, in := range list {
			if in.State != providers.InstanceStopping {
				live = append(live, in)
			}
		}
		return len(live) == 1 && live[0].ID == kept && live[0].State == providers.InstanceHealthy, nil
	})
	if err := c2.Stop(ctx, gone); err != nil {
		t.Errorf("Stop of an instance already stopped: %v, want nil", err)
	}
	if err := c.Stop(ctx, gone); err != nil {
		t.Errorf("Stop of an instance already stopped, on the first Cluster value: %v, want nil", err)
	}
}

func (h Harness) testUnhealthy(t *testing.T) {
	ctx := t.Context()
	c := h.New(t)
	spec := h.Spec(t, "broken", "1.0.1", false)
	if _, err := c.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	h.waitFor(t, "the failing instance to be reported unhealthy", func() (bool, error) {
		list, err := c.Instances(ctx, Project, spec.Build)
		if err != nil {
			return false, err
		}
		unhealthy := false
		for _, in := range list {
			checkInstance(t, "Instances", in, spec, true)
			switch in.State {
			case providers.InstanceHealthy:
				return false, fmt.Errorf("instance %s failing its health checks is reported healthy", in.ID)
			case providers.InstanceUnhealthy:
				unhealthy = true
			}
		}
		return unhealthy, nil
	})
}

// waitHealthy waits until the build lists exactly n instances, all of
// spec's version and healthy, and returns their IDs, sorted.
func (h Harness) waitHealthy(t *testing.T, c providers.Cluster, spec providers.InstanceSpec, n int) []string {
	t.Helper()
	var ids []string
	var last []providers.Instance
	h.waitFor(t, fmt.Sprintf("%d healthy instances of %s", n, spec.Version), func() (bool, error) {
		list, err := c.Instances(t.Context(), Project, spec.Build)
		if err != nil {
			return false, err
		}
		last = list
		ids = ids[:0]
		for _, in := range list {
			checkInstance(t, "Instances", in, spec, true)
			if in.State == providers.InstanceStopping {
				continue
			}
			if in.State != providers.InstanceHealthy {
				return false, nil
			}
			ids = append(ids, in.ID)
		}
		return len(ids) == n, nil
	}, func() string { return fmt.Sprintf("last listed: %s", describe(last)) })
	slices.Sort(ids)
	return slices.Clone(ids)
}

// checkInstance reports an instance that does not say what it runs.
func checkInstance(t *testing.T, from string, in providers.Instance, spec providers.InstanceSpec, listed bool) {
	t.Helper()
	if in.Project != spec.Project || in.Build != spec.Build || in.Version != spec.Version {
		t.Errorf("%s: instance %s is %s/%s@%s, want %s/%s@%s", from, in.ID, in.Project, in.Build, in.Version,
			spec.Project, spec.Build, spec.Version)
	}
	if listed && (in.ID == "" || in.StartedAt.IsZero()) {
		t.Errorf("%s: instance %+v has no ID or start time", from, in)
	}
}

func describe(list []providers.Instance) string {
	var b strings.Builder
	for _, in := range list {
		fmt.Fprintf(&b, "[%s %s %s] ", in.ID, in.Version, in.State)
	}
	return cmp.Or(strings.TrimSpace(b.String()), "none")
}

// waitFor polls cond until it holds, fails the test if it returns an error
// or the harness's timeout passes.
func (h Harness) waitFor(t *testing.T, what string, cond func() (bool, error), detail ...func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), h.Timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			msg := "gave up waiting for " + what
			for _, d := range detail {
				msg += "; " + d()
			}
			t.Fatal(msg)
		case <-time.After(h.Poll):
		}
	}
}
