package controller_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

// fakeBuilder "builds" every image at once and returns a digest made from
// its name.
type fakeBuilder struct {
	mu    sync.Mutex
	built []string
}

func (b *fakeBuilder) Build(_ context.Context, _ providers.Source, spec providers.BuildSpec, log io.Writer) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.built = append(b.built, spec.Image)
	fmt.Fprintf(log, "built %s\n", spec.Image)
	return fmt.Sprintf("sha256:%064x", len(b.built)), nil
}

// memCluster is an in-memory cluster whose instances are healthy as soon
// as they start, unless their version is marked bad, and whose endpoint
// is a fixed URL (an httptest service standing in for the build).
type memCluster struct {
	endpoint string

	mu    sync.Mutex
	next  int
	insts map[string]providers.Instance
	bad   map[string]bool // versions that never become healthy
}

func newMemCluster(endpoint string) *memCluster {
	return &memCluster{endpoint: endpoint, insts: map[string]providers.Instance{}, bad: map[string]bool{}}
}

func (c *memCluster) Instances(_ context.Context, project, build string) ([]providers.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []providers.Instance
	for _, in := range c.insts {
		if in.Project == project && in.Build == build {
			out = append(out, in)
		}
	}
	return out, nil
}

func (c *memCluster) Start(_ context.Context, spec providers.InstanceSpec) (providers.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	state := providers.InstanceHealthy
	if c.bad[spec.Version] {
		state = providers.InstanceUnhealthy
	}
	in := providers.Instance{ID: fmt.Sprintf("i%03d", c.next), Project: spec.Project, Build: spec.Build,
		Version: spec.Version, State: state, StartedAt: time.Unix(int64(c.next), 0)}
	c.insts[in.ID] = in
	return in, nil
}

func (c *memCluster) Stop(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.insts, id)
	return nil
}

func (c *memCluster) Endpoint(context.Context, string, string) (string, error) {
	return c.endpoint, nil
}

// versions counts running instances per version.
func (c *memCluster) versions() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, in := range c.insts {
		out[in.Version]++
	}
	return out
}

var (
	_ providers.Builder = (*fakeBuilder)(nil)
	_ providers.Cluster = (*memCluster)(nil)
)
