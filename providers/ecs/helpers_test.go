package ecs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/ecs"
	"github.com/mainline-cd/mainline/providers/ecs/ecstest"
)

// fakeClock stands still unless a test moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// healthCommand is the container health check the tests configure.
var healthCommand = []string{"CMD", "/app", "-check", "http://127.0.0.1:{port}{path}"}

// newCluster returns a Cluster on the fake's cluster, with a client that
// makes up to attempts attempts per call, a clock that stands still and
// re-reads without pauses.
func newCluster(t *testing.T, srv *ecstest.Server, attempts int, edit ...func(*ecs.Config)) *ecs.Cluster {
	t.Helper()
	cfg := ecs.Config{
		Client:      srv.Client(attempts),
		Cluster:     ecstest.ClusterName,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
		Clock:       &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		ReReadDelay: time.Microsecond,
		HealthCheck: healthCommand,
		Subnets:     []string{"subnet-1"},
		Endpoint:    func(project, build string) string { return "https://" + project + "-" + build + ".example.test" },
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := ecs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// spec is an instance spec of shop/api at version, its image named by a
// digest made from the version.
func spec(version string) providers.InstanceSpec {
	return specOf("shop", "api", version)
}

func specOf(project, build, version string) providers.InstanceSpec {
	sum := sha256.Sum256([]byte(project + build + version))
	return providers.InstanceSpec{
		Project:       project,
		Build:         build,
		Version:       version,
		Image:         "123456789012.dkr.ecr.us-east-1.amazonaws.com/" + project + "/" + build + "@sha256:" + hex.EncodeToString(sum[:]),
		Port:          8080,
		HealthPath:    "/healthz",
		HealthTimeout: 2 * time.Second,
		Env:           map[string]string{"MAINLINE_VERSION": version},
	}
}
