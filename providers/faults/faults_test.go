package faults_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/faults"
)

// countingCluster counts the calls that reach it.
type countingCluster struct {
	mu     sync.Mutex
	starts int
}

func (c *countingCluster) Instances(context.Context, string, string) ([]providers.Instance, error) {
	return nil, nil
}

func (c *countingCluster) Start(_ context.Context, spec providers.InstanceSpec) (providers.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts++
	return providers.Instance{ID: fmt.Sprint(c.starts), Project: spec.Project, Version: spec.Version}, nil
}

func (c *countingCluster) Stop(context.Context, string) error { return nil }

func (c *countingCluster) Endpoint(context.Context, string, string) (string, error) {
	return "http://127.0.0.1:1", nil
}

func (c *countingCluster) started() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.starts
}

var errDown = fmt.Errorf("engine down: %w", providers.ErrUnavailable)

// TestKinds: each kind of fault does what it says to the call it hits,
// and the call reaches the provider only when the fault lets it.
func TestKinds(t *testing.T) {
	tests := []struct {
		fault       faults.Fault
		wantIs      []error
		wantReached bool
	}{
		{faults.Fault{Kind: faults.Fail}, []error{faults.ErrInjected}, false},
		{faults.Fault{Kind: faults.Fail, Err: errDown}, []error{providers.ErrUnavailable}, false},
		{faults.Fault{Kind: faults.Throttle, Delay: time.Minute}, []error{providers.ErrUnavailable, faults.ErrInjected}, false},
		{faults.Fault{Kind: faults.Delay, Delay: time.Nanosecond}, nil, true},
		{faults.Fault{Kind: faults.Lose}, []error{faults.ErrInjected}, true},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Kind.String(), func(t *testing.T) {
			inner := &countingCluster{}
			plan := &faults.Plan{}
			c := faults.Cluster(inner, plan)
			plan.Inject("Cluster.Start", tt.fault)
			_, err := c.Start(context.Background(), providers.InstanceSpec{Project: "p"})
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("Start error = %v, want it to wrap %v", err, want)
				}
			}
			if len(tt.wantIs) == 0 && err != nil {
				t.Errorf("Start error = %v, want none", err)
			}
			if got := inner.started() == 1; got != tt.wantReached {
				t.Errorf("call reached the cluster: %v, want %v", got, tt.wantReached)
			}
			if got := plan.Hits("Cluster.Start"); got != 1 {
				t.Errorf("Hits = %d, want 1", got)
			}
		})
	}
}

func TestThrottledErrorSaysWhen(t *testing.T) {
	plan := &faults.Plan{}
	plan.Inject("*", faults.Fault{Kind: faults.Throttle, Delay: 3 * time.Second})
	_, err := faults.Cluster(&countingCluster{}, plan).Endpoint(context.Background(), "p", "b")
	var te *faults.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != 3*time.Second || te.Method != "Cluster.Endpoint" {
		t.Fatalf("error = %#v, want a *ThrottledError for Cluster.Endpoint after 3s", err)
	}
}

// TestHangEndsWithTheContext: a hung call returns the context's error once
// the caller gives up, and never reaches the provider.
func TestHangEndsWithTheContext(t *testing.T) {
	inner := &countingCluster{}
	plan := &faults.Plan{}
	plan.Inject("Cluster.Start", faults.Fault{Kind: faults.Hang})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := faults.Cluster(inner, plan).Start(ctx, providers.InstanceSpec{})
		errc <- err
	}()
	for plan.Hits("Cluster.Start") == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("hung Start returned %v, want context.Canceled", err)
	}
	if inner.started() != 0 {
		t.Errorf("hung Start reached the cluster")
	}
}

// TestDelayWaitsOnTheClock: a delayed call goes ahead only once the
// plan's clock has moved on by the delay.
func TestDelayWaitsOnTheClock(t *testing.T) {
	clock := clockwork.NewFakeClock()
	inner := &countingCluster{}
	plan := &faults.Plan{Clock: clock}
	plan.Inject("Cluster.*", faults.Fault{Kind: faults.Delay, Delay: time.Hour})
	errc := make(chan error, 1)
	go func() {
		_, err := faults.Cluster(inner, plan).Start(context.Background(), providers.InstanceSpec{})
		errc <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if inner.started() != 0 {
		t.Fatal("delayed Start reached the cluster before its delay")
	}
	clock.Advance(time.Hour)
	if err := <-errc; err != nil {
		t.Fatalf("delayed Start: %v", err)
	}
	if inner.started() != 1 {
		t.Errorf("delayed Start never reached the cluster")
	}
}

// TestSelection: Times, Project, patterns and Clear choose which calls a
// fault hits.
func TestSelection(t *testing.T) {
	ctx := context.Background()
	start := func(c providers.Cluster, project string) error {
		_, err := c.Start(ctx, providers.InstanceSpec{Project: project})
		return err
	}
	t.Run("times", func(t *testing.T) {
		plan := &faults.Plan{}
		c := faults.Cluster(&countingCluster{}, plan)
		plan.Inject("Cluster.Start", faults.Fault{Kind: faults.Fail, Times: 2})
		var got []bool
		for range 4 {
			got = append(got, start(c, "p") != nil)
		}
		if want := []bool{true, true, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("failed calls = %v, want %v", got, want)
		}
		if plan.Calls("Cluster.Start") != 4 || plan.Hits("Cluster.*") != 2 {
			t.Errorf("Calls = %d, Hits = %d, want 4 and 2", plan.Calls("Cluster.Start"), plan.Hits("Cluster.*"))
		}
	})
	t.Run("project", func(t *testing.T) {
		plan := &faults.Plan{}
		c := faults.Cluster(&countingCluster{}, plan)
		plan.Inject("Cluster.Start", faults.Fault{Kind: faults.Fail, Project: "a"})
		if start(c, "a") == nil || start(c, "b") != nil {
			t.Errorf("a fault for project a should hit a and only a")
		}
	})
	t.Run("patterns", func(t *testing.T) {
		plan := &faults.Plan{}
		c := faults.Cluster(&countingCluster{}, plan)
		plan.Inject("Cluster.*", faults.Fault{Kind: faults.Fail})
		if start(c, "a") == nil || c.Stop(ctx, "x") == nil {
			t.Errorf("Cluster.* should hit Start and Stop")
		}
		reg := faults.Registry(registryFunc(func(string) (string, error) { return "sha256:1", nil }), plan)
		if _, err := reg.Digest(ctx, "img"); err != nil {
			t.Errorf("Cluster.* hit Registry.Digest: %v", err)
		}
		plan.Inject("*", faults.Fault{Kind: faults.Fail})
		if _, err := reg.Digest(ctx, "img"); err == nil {
			t.Errorf("* did not hit Registry.Digest")
		}
	})
	t.Run("clear", func(t *testing.T) {
		plan := &faults.Plan{}
		c := faults.Cluster(&countingCluster{}, plan)
		plan.Inject("Cluster.Start", faults.Fault{Kind: faults.Fail})
		if start(c, "a") == nil {
			t.Fatal("fault did not hit")
		}
		plan.Clear("Cluster.Start")
		if err := start(c, "a"); err != nil {
			t.Errorf("after Clear: %v", err)
		}
		plan.Inject("Cluster.Start", faults.Fault{Kind: faults.Fail})
		plan.Reset()
		if err := start(c, "a"); err != nil || plan.Calls("*") != 1 {
			t.Errorf("after Reset: err %v, calls %d, want nil and 1", err, plan.Calls("*"))
		}
	})
}

type registryFunc func(string) (string, error)

func (f registryFunc) Digest(_ context.Context, image string) (string, error) { return f(image) }
