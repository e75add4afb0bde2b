package docker_test

import (
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/clustertest"
	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// TestClusterConformance runs the local Docker Cluster through the suite
// every Cluster passes (the ECS one runs it against its fake). Each subtest
// gets labels of its own, removed when it ends; every Cluster value the
// suite asks for within it shares them, as a restarted controller would.
func TestClusterConformance(t *testing.T) {
	cli := dockertest.Client(t)
	image := dockertest.SampleImage(t, cli, dockertest.SampleOptions{Version: "1.0.0"})

	var mu sync.Mutex
	backends := map[*testing.T]*testCluster{}
	backend := func(t *testing.T) *testCluster {
		mu.Lock()
		defer mu.Unlock()
		if backends[t] == nil {
			backends[t] = newTestCluster(t)
		}
		return backends[t]
	}
	clustertest.Run(t, clustertest.Harness{
		New: func(t *testing.T) providers.Cluster {
			// A short start deadline, so that the failing instance is
			// reported unhealthy soon.
			return backend(t).cluster(t, docker.ClusterConfig{
				Health:       docker.HealthConfig{Interval: 100 * time.Millisecond, StartDeadline: 5 * time.Second},
				DrainTimeout: 5 * time.Second,
				StopGrace:    5 * time.Second,
			})
		},
		Spec: func(t *testing.T, build, version string, healthy bool) providers.InstanceSpec {
			backend(t) // the labels, and their clean-up, before any container
			s := sampleSpec(clustertest.Project, version, image)
			s.Build = build
			if !healthy {
				s.Env = map[string]string{"SAMPLE_HEALTHY": "false"}
			}
			return s
		},
	})
}
