package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/ecs"
	"github.com/mainline-cd/mainline/providers/ecs/ecstest"
)

// maxPolls bounds a rollout loop; the fake finishes any rollout here in far
// fewer steps.
const maxPolls = 300

// rollout calls Rollout until the rollout is done or failed and returns the
// last status with every earlier one. check, if given, sees each status as
// it comes.
func rollout(t *testing.T, c *ecs.Cluster, s providers.InstanceSpec, n, surge, unavailable int, check func(providers.RolloutStatus)) (providers.RolloutStatus, []providers.RolloutStatus) {
	t.Helper()
	var seen []providers.RolloutStatus
	for range maxPolls {
		st, err := c.Rollout(t.Context(), s, n, surge, unavailable)
		if err != nil {
			t.Fatalf("Rollout %s ×%d: %v", s.Version, n, err)
		}
		if check != nil {
			check(st)
		}
		seen = append(seen, st)
		if st.Done || st.Failed {
			return st, seen
		}
	}
	t.Fatalf("Rollout %s ×%d: neither done nor failed after %d polls; last: %+v", s.Version, n, maxPolls, seen[len(seen)-1])
	return providers.RolloutStatus{}, nil
}

// service returns the fake's service of shop/api, failing the test if there
// is none.
func service(t *testing.T, srv *ecstest.Server) ecstest.Service {
	t.Helper()
	svc, ok := srv.Service("shop-api")
	if !ok {
		t.Fatal("the fake has no service shop-api")
	}
	return svc
}

// primaryVersion returns the version the fake's primary deployment runs and
// its rollout state.
func primaryVersion(t *testing.T, srv *ecstest.Server, svc ecstest.Service) (string, string) {
	t.Helper()
	p := svc.Deployments[0]
	for _, td := range srv.TaskDefinitions() {
		if td.ARN == p.TaskDefinition {
			return td.Tags[ecs.TagVersion], p.RolloutState
		}
	}
	t.Fatalf("primary deployment runs unknown task definition %s", p.TaskDefinition)
	return "", ""
}

func TestRolloutCompletes(t *testing.T) {
	for _, tc := range []struct{ n, surge, unavailable int }{
		{1, 1, 0},
		{2, 1, 0},
		{2, 0, 1},
		{3, 1, 0},
		{3, 0, 1},
		{7, 2, 1},
		{7, 0, 3},
	} {
		t.Run(fmt.Sprintf("n%d_surge%d_unavailable%d", tc.n, tc.surge, tc.unavailable), func(t *testing.T) {
			srv := ecstest.NewServer(t)
			c := newCluster(t, srv, 3)

			st, _ := rollout(t, c, spec("0.0.1"), tc.n, tc.surge, tc.unavailable, nil)
			if !st.Done || !maps.Equal(st.Versions, map[string]int{"0.0.1": tc.n}) {
				t.Fatalf("first rollout ended with %+v, want done with 0.0.1 ×%d", st, tc.n)
			}
			before := service(t, srv)

			// From here on every status before the end must not be done, and
			// the fake must agree when it is.
			st, seen := rollout(t, c, spec("0.0.2"), tc.n, tc.surge, tc.unavailable, func(st providers.RolloutStatus) {
				if !st.Done {
					return
				}
				if v, state := primaryVersion(t, srv, service(t, srv)); v != "0.0.2" || state != "COMPLETED" {
					t.Errorf("Rollout said done while ECS's primary deployment is %s %s", v, state)
				}
			})
			if !st.Done || st.Failed || !maps.Equal(st.Versions, map[string]int{"0.0.2": tc.n}) {
				t.Fatalf("second rollout ended with %+v, want done with 0.0.2 ×%d", st, tc.n)
			}
			if len(seen) < 2 {
				t.Errorf("second rollout was done at its first poll; it cannot have been observed")
			}

			svc := service(t, srv)
			wantMax, wantMin, err := ecs.DeploymentPercents(tc.n, tc.surge, tc.unavailable)
			if err != nil {
				t.Fatal(err)
			}
			if svc.DesiredCount != tc.n || svc.MaximumPercent != int(wantMax) || svc.MinimumHealthyPercent != int(wantMin) || !svc.CircuitBreaker {
				t.Errorf("service: desired %d, max %d%%, min %d%%, circuit breaker with rollback %t; want %d, %d%%, %d%%, true",
					svc.DesiredCount, svc.MaximumPercent, svc.MinimumHealthyPercent, svc.CircuitBreaker, tc.n, wantMax, wantMin)
			}
			if got := svc.DeploymentsStarted - before.DeploymentsStarted; got != 1 {
				t.Errorf("the rollout to 0.0.2 started %d deployments, want 1", got)
			}
			// ECS's own rolling update, as the fake runs it, kept the budget.
			if svc.PeakTasks > tc.n+tc.surge {
				t.Errorf("up to %d tasks ran at once, want ≤ %d (n + max_surge)", svc.PeakTasks, tc.n+tc.surge)
			}
			if svc.MinHealthy < tc.n-tc.unavailable {
				t.Errorf("healthy tasks fell to %d, want ≥ %d (n - max_unavailable)", svc.MinHealthy, tc.n-tc.unavailable)
			}

			// Done stays done: another call changes nothing.
			registered := len(srv.TaskDefinitions())
			updates := srv.Calls("UpdateService")
			if st, err := c.Rollout(t.Context(), spec("0.0.2"), tc.n, tc.surge, tc.unavailable); err != nil || !st.Done {
				t.Errorf("Rollout after done = %+v, %v; want done", st, err)
			}
			if got := len(srv.TaskDefinitions()); got != registered {
				t.Errorf("Rollout after done registered %d task definitions", got-registered)
			}
			if got := srv.Calls("UpdateService"); got != updates {
				t.Errorf("Rollout after done updated the service %d times", got-updates)
			}
		})
	}
}

func TestRolloutTaskDefinition(t *testing.T) {
	srv := ecstest.NewServer(t)
	c := newCluster(t, srv, 3, func(cfg *ecs.Config) { cfg.Memory = 1024 })
	s := spec("0.3.15")
	if st, _ := rollout(t, c, s, 2, 1, 0, nil); !st.Done {
		t.Fatalf("rollout: %+v", st)
	}
	tds := srv.TaskDefinitions()
	if len(tds) != 1 {
		t.Fatalf("registered %d task definitions, want 1", len(tds))
	}
	td := tds[0]
	want := ecstest.TaskDefinition{
		ARN: td.ARN, Family: "shop-api", Revision: 1, Image: s.Image, Port: 8080, Memory: "1024",
		HealthCheck: []string{"CMD", "/app", "-check", "http://127.0.0.1:8080/healthz"},
		Environment: map[string]string{"MAINLINE_VERSION": "0.3.15"},
		Tags:        map[string]string{ecs.TagProject: "shop", ecs.TagBuild: "api", ecs.TagVersion: "0.3.15"},
		NetworkMode: "awsvpc", Compatibilities: []string{"FARGATE"},
	}
	if fmt.Sprint(td) != fmt.Sprint(want) {
		t.Errorf("task definition:\n got %+v\nwant %+v", td, want)
	}
}

func TestRolloutFails(t *testing.T) {
	srv := ecstest.NewServer(t)
	c := newCluster(t, srv, 3)
	if st, _ := rollout(t, c, spec("0.0.1"), 2, 1, 0, nil); !st.Done {
		t.Fatalf("rollout of 0.0.1: %+v", st)
	}
	bad := spec("0.0.2")
	srv.FailImage(bad.Image)
	st, _ := rollout(t, c, bad, 2, 1, 0, func(st providers.RolloutStatus) {
		if st.Done {
			t.Errorf("a rollout of a version whose tasks fail their health checks said done: %+v", st)
		}
	})
	if !st.Failed || !strings.Contains(st.Reason, "circuit breaker") || !strings.Contains(st.Reason, "rolled back to 0.0.1") {
		t.Errorf("status = %+v, want failed with the circuit breaker's reason and the rollback", st)
	}
	if st.Versions["0.0.2"] != 0 {
		t.Errorf("failed status counts %d running tasks of 0.0.2, want 0", st.Versions["0.0.2"])
	}

	// The failure sticks: asking again neither retries the bad version nor
	// reports anything else.
	started := service(t, srv).DeploymentsStarted
	for range 5 {
		st, err := c.Rollout(t.Context(), bad, 2, 1, 0)
		if err != nil || !st.Failed {
			t.Fatalf("Rollout of the failed version again = %+v, %v; want failed", st, err)
		}
	}
	if got := service(t, srv).DeploymentsStarted; got != started {
		t.Errorf("asking again about the failed version started %d deployments, want none", got-started)
	}

	// The controller's answer is to go back: that converges to 0.0.1.
	if st, _ := rollout(t, c, spec("0.0.1"), 2, 1, 0, nil); !st.Done || !maps.Equal(st.Versions, map[string]int{"0.0.1": 2}) {
		t.Errorf("rollout back to 0.0.1 = %+v, want done with 0.0.1 ×2", st)
	}
	if v, state := primaryVersion(t, srv, service(t, srv)); v != "0.0.1" || state != "COMPLETED" {
		t.Errorf("ECS runs %s (%s), want 0.0.1 COMPLETED", v, state)
	}
}

// TestRolloutFirstDeploymentFails: a new service whose only version fails
// has nothing to roll back to; ECS marks the PRIMARY deployment FAILED.
func TestRolloutFirstDeploymentFails(t *testing.T) {
	srv := ecstest.NewServer(t)
	c := newCluster(t, srv, 3)
	bad := spec("0.0.1")
	srv.FailImage(bad.Image)
	st, _ := rollout(t, c, bad, 2, 1, 0, nil)
	if !st.Failed || !strings.Contains(st.Reason, "circuit breaker") {
		t.Errorf("status = %+v, want failed by the circuit breaker", st)
	}
}

func TestRolloutThrottled(t *testing.T) {
	srv := ecstest.NewServer(t)
	c := newCluster(t, srv, 5)

	// Fewer throttles in a row than the client's attempts: the SDK's
	// retryer rides them out and no call fails.
	polls := 0
	st, _ := rollout(t, c, spec("0.0.1"), 2, 1, 0, func(providers.RolloutStatus) {
		polls++
		if polls%3 == 1 {
			srv.Throttle(4)
		}
	})
	if !st.Done {
		t.Fatalf("rollout under throttling: %+v", st)
	}
	if srv.Throttled() == 0 {
		t.Fatal("the fake throttled nothing; the test tests nothing")
	}

	// More throttles than attempts: Rollout reports the ThrottlingException,
	// and the next call carries on where the rollout is.
	srv.Throttle(5)
	_, err := c.Rollout(t.Context(), spec("0.0.2"), 2, 1, 0)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ThrottlingException" {
		t.Fatalf("Rollout with every attempt throttled: %v, want a ThrottlingException", err)
	}
	if st, _ := rollout(t, c, spec("0.0.2"), 2, 1, 0, nil); !st.Done || !maps.Equal(st.Versions, map[string]int{"0.0.2": 2}) {
		t.Errorf("rollout after throttling = %+v, want done with 0.0.2 ×2", st)
	}
	if got := service(t, srv).DeploymentsStarted; got != 2 {
		t.Errorf("%d deployments started, want 2 (one per version)", got)
	}
}

func TestRolloutStaleReads(t *testing.T) {
	for _, stale := range []int{1, 3, 4, 9} {
		t.Run(fmt.Sprintf("stale%d", stale), func(t *testing.T) {
			srv := ecstest.NewServer(t)
			c := newCluster(t, srv, 3) // three re-reads per call

			// Reads right after CreateService say there is no service: no
			// second CreateService.
			srv.StaleReads(stale)
			if st, _ := rollout(t, c, spec("0.0.1"), 2, 1, 0, nil); !st.Done {
				t.Fatalf("rollout of 0.0.1: %+v", st)
			}
			if got := srv.Calls("CreateService"); got != 1 {
				t.Errorf("CreateService called %d times, want 1", got)
			}

			// Reads right after UpdateService show 0.0.1 still COMPLETED
			// with all its tasks: that must not end the rollout to 0.0.2,
			// nor update the service again.
			srv.StaleReads(stale)
			st, seen := rollout(t, c, spec("0.0.2"), 2, 1, 0, func(st providers.RolloutStatus) {
				if st.Done {
					if v, state := primaryVersion(t, srv, service(t, srv)); v != "0.0.2" || state != "COMPLETED" {
						t.Errorf("Rollout said done while ECS's primary deployment is %s %s", v, state)
					}
				}
			})
			if !st.Done || !maps.Equal(st.Versions, map[string]int{"0.0.2": 2}) {
				t.Errorf("rollout of 0.0.2 = %+v, want done with 0.0.2 ×2", st)
			}
			if got := service(t, srv).DeploymentsStarted; got != 2 {
				t.Errorf("%d deployments started, want 2", got)
			}
			if got := srv.Calls("UpdateService"); got != 1 {
				t.Errorf("UpdateService called %d times, want 1", got)
			}
			if stale > 3 && !slices.ContainsFunc(seen, func(st providers.RolloutStatus) bool {
				return strings.Contains(st.Reason, "waiting for ECS to show the update")
			}) {
				t.Errorf("with %d stale reads, no status said it waited for ECS: %+v", stale, seen)
			}
		})
	}
}

// TestRolloutStaleUpdateExpires: an update the reads never show is made
// again once it is older than UpdateTTL, so a lost update cannot stall a
// rollout forever.
func TestRolloutStaleUpdateExpires(t *testing.T) {
	srv := ecstest.NewServer(t)
	clock := &fakeClock{}
	c := newCluster(t, srv, 3, func(cfg *ecs.Config) { cfg.Clock = clock; cfg.StaleReads = -1 })
	srv.StaleReads(100)
	for range 5 {
		st, err := c.Rollout(t.Context(), spec("0.0.1"), 1, 1, 0)
		if err != nil || st.Done {
			t.Fatalf("Rollout with stale reads = %+v, %v; want waiting", st, err)
		}
	}
	if got := srv.Calls("CreateService"); got != 1 {
		t.Fatalf("CreateService called %d times while the update was fresh, want 1", got)
	}
	clock.Add(ecs.DefaultUpdateTTL + 1)
	// The reads still say MISSING; the Cluster believes them now and
	// creates the service again, with the same client token, so ECS
	// answers with the service it has.
	if _, err := c.Rollout(t.Context(), spec("0.0.1"), 1, 1, 0); err != nil {
		t.Errorf("Rollout making its create again: %v", err)
	}
	if got := srv.Calls("CreateService"); got != 2 {
		t.Errorf("CreateService called %d times after the update expired, want 2", got)
	}
	if got := service(t, srv).DeploymentsStarted; got != 1 {
		t.Errorf("%d deployments started, want 1", got)
	}
	srv.StaleReads(0)
	if st, _ := rollout(t, c, spec("0.0.1"), 1, 1, 0, nil); !st.Done {
		t.Fatalf("rollout once reads are fresh: %+v", st)
	}

	// Even a stale read the Cluster no longer doubts, showing 0.0.1
	// COMPLETED with all its tasks healthy, does not pass for 0.0.2.
	srv.StaleReads(100)
	if st, err := c.Rollout(t.Context(), spec("0.0.2"), 1, 1, 0); err != nil || st.Done {
		t.Fatalf("Rollout of 0.0.2 = %+v, %v; want waiting", st, err)
	}
	clock.Add(ecs.DefaultUpdateTTL + 1)
	for range 3 {
		st, err := c.Rollout(t.Context(), spec("0.0.2"), 1, 1, 0)
		if err != nil || st.Done {
			t.Fatalf("Rollout of 0.0.2 on reads of 0.0.1 = %+v, %v; want not done", st, err)
		}
	}
	if got := service(t, srv).DeploymentsStarted; got != 2 {
		t.Errorf("%d deployments started, want 2: the update made again must not start another", got)
	}
}

func TestStartRefusesOtherVersion(t *testing.T) {
	srv := ecstest.NewServer(t)
	c := newCluster(t, srv, 3)
	if st, _ := rollout(t, c, spec("0.0.1"), 1, 1, 0, nil); !st.Done {
		t.Fatalf("rollout: %+v", st)
	}
	if _, err := c.Start(t.Context(), spec("0.0.2")); !errors.Is(err, ecs.ErrNotPrimary) {
		t.Errorf("Start of a version that is not primary: %v, want ErrNotPrimary", err)
	}
	if _, err := c.Start(t.Context(), spec("0.0.1")); err != nil {
		t.Fatalf("Start of the primary version: %v", err)
	}
	if got := service(t, srv).DesiredCount; got != 2 {
		t.Errorf("desired count after Start = %d, want 2", got)
	}
}

func TestStopRefusesForeignTask(t *testing.T) {
	srv := ecstest.NewServer(t)
	c := newCluster(t, srv, 3)
	if err := c.Stop(context.Background(), "arn:aws:ecs:us-east-1:123456789012:task/mainline-test/nosuchtask"); err != nil {
		t.Errorf("Stop of a task that does not exist: %v, want nil", err)
	}
}

func TestNewRequires(t *testing.T) {
	srv := ecstest.NewServer(t)
	for _, cfg := range []ecs.Config{
		{Cluster: "x"},
		{Client: srv.Client(1)},
	} {
		if _, err := ecs.New(cfg); err == nil {
			t.Errorf("New(%+v): nil error, want one", cfg)
		}
	}
	c := newCluster(t, srv, 1, func(cfg *ecs.Config) { cfg.Endpoint = nil })
	if _, err := c.Endpoint(t.Context(), "shop", "api"); err == nil {
		t.Error("Endpoint without Config.Endpoint: nil error, want one")
	}
}

func TestRolloutZeroInstances(t *testing.T) {
	srv := ecstest.NewServer(t)
	c := newCluster(t, srv, 3)
	if st, _ := rollout(t, c, spec("0.0.1"), 0, 1, 0, nil); !st.Done || len(st.Versions) != 0 {
		t.Errorf("rollout of nothing with no service = %+v, want done with no versions", st)
	}
	if got := srv.Calls("CreateService"); got != 0 {
		t.Errorf("CreateService called %d times to run nothing", got)
	}
	if st, _ := rollout(t, c, spec("0.0.1"), 2, 1, 0, nil); !st.Done {
		t.Fatalf("rollout of 0.0.1 ×2: %+v", st)
	}
	if st, _ := rollout(t, c, spec("0.0.1"), 0, 1, 0, nil); !st.Done || len(st.Versions) != 0 {
		t.Errorf("rollout down to 0 = %+v, want done with no versions", st)
	}
	if svc := service(t, srv); svc.DesiredCount != 0 || svc.Deployments[0].Running != 0 {
		t.Errorf("service after scaling to 0: desired %d, running %d; want 0, 0", svc.DesiredCount, svc.Deployments[0].Running)
	}
}
