package ecs_test

import (
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/clustertest"
	"github.com/mainline-cd/mainline/providers/ecs/ecstest"
)

// TestClusterConformance runs the ECS Cluster's Start/Stop mapping through
// the suite every Cluster passes, against the fake ECS API: one fake per
// subtest, and a Cluster with a client of its own for every value the
// suite asks for, as a restarted controller would have.
func TestClusterConformance(t *testing.T) {
	var mu sync.Mutex
	servers := map[*testing.T]*ecstest.Server{}
	server := func(t *testing.T) *ecstest.Server {
		mu.Lock()
		defer mu.Unlock()
		if servers[t] == nil {
			servers[t] = ecstest.NewServer(t)
		}
		return servers[t]
	}
	clustertest.Run(t, clustertest.Harness{
		New: func(t *testing.T) providers.Cluster {
			return newCluster(t, server(t), 3)
		},
		Spec: func(t *testing.T, build, version string, healthy bool) providers.InstanceSpec {
			s := specOf(clustertest.Project, build, version)
			if !healthy {
				server(t).FailImage(s.Image)
			}
			return s
		},
		Poll: 1, // the fake moves on when asked, not with time
	})
}
