package docker_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/docker"
)

// gateBuilder is a providers.Builder whose builds block until released, and
// which records the order builds start in and the most that ran at once.
type gateBuilder struct {
	mu       sync.Mutex
	started  []string // "project/version" in start order
	running  int
	maxSeen  int
	releases map[string]chan struct{}
}

func newGateBuilder() *gateBuilder {
	return &gateBuilder{releases: make(map[string]chan struct{})}
}

func (g *gateBuilder) gate(id string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch, ok := g.releases[id]
	if !ok {
		ch = make(chan struct{})
		g.releases[id] = ch
	}
	return ch
}

func (g *gateBuilder) Build(ctx context.Context, _ providers.Source, spec providers.BuildSpec, _ io.Writer) (string, error) {
	id := spec.Project + "/" + spec.Version
	g.mu.Lock()
	g.started = append(g.started, id)
	g.running++
	g.maxSeen = max(g.maxSeen, g.running)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.running--
		g.mu.Unlock()
	}()
	select {
	case <-g.gate(id):
		return "sha256:" + id, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (g *gateBuilder) Started() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.started)
}

// spinUntil yields until cond holds. It asserts nothing about time: a queue
// that never gets there hangs until the test binary's timeout.
func spinUntil(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

type result struct {
	id     string
	digest string
	err    error
}

// submit starts a build of project at version through q.
func submit(ctx context.Context, q *docker.Queue, project, version string, out chan<- result) {
	go func() {
		d, err := q.Build(ctx, nil, providers.BuildSpec{Project: project, Version: version}, io.Discard)
		out <- result{project + "/" + version, d, err}
	}()
}

func TestQueueFairAcrossProjects(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		queued []string // project/version, submitted in this order after "a/1" (and "c/1" with limit 2) started
		want   []string // the order builds start in
	}{
		{
			name:   "one slot: a project with many builds takes turns",
			limit:  1,
			queued: []string{"a/2", "a/3", "b/1", "c/1", "b/2"},
			want:   []string{"a/1", "b/1", "c/1", "a/2", "b/2", "a/3"},
		},
		{
			name:   "one slot: first come first served within a project",
			limit:  1,
			queued: []string{"b/1", "b/2", "b/3"},
			want:   []string{"a/1", "b/1", "b/2", "b/3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateBuilder()
			q := docker.LimitBuilds(g, tt.limit)
			results := make(chan result, 16)
			ctx := t.Context()

			submit(ctx, q, "a", "1", results)
			spinUntil(func() bool { r, _ := q.Len(); return r == 1 })
			for i, id := range tt.queued {
				project, version, _ := strings.Cut(id, "/")
				submit(ctx, q, project, version, results)
				spinUntil(func() bool { _, w := q.Len(); return w == i+1 })
			}
			// Release builds one at a time, in the order they start.
			for i := range tt.want {
				spinUntil(func() bool { return len(g.Started()) > i })
				close(g.gate(g.Started()[i]))
				r := <-results
				if r.err != nil || r.digest != "sha256:"+r.id {
					t.Errorf("build %s = %q, %v", r.id, r.digest, r.err)
				}
			}
			if got := g.Started(); !slices.Equal(got, tt.want) {
				t.Errorf("start order = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueueLimit(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		g := newGateBuilder()
		q := docker.LimitBuilds(g, limit)
		results := make(chan result, 16)
		ids := []string{"a/1", "b/1", "a/2", "c/1", "b/2", "a/3"}
		for _, id := range ids {
			p, v, _ := strings.Cut(id, "/")
			submit(t.Context(), q, p, v, results)
		}
		spinUntil(func() bool { r, w := q.Len(); return r == limit && w == len(ids)-limit })
		for i := range ids {
			spinUntil(func() bool { return len(g.Started()) > i })
			close(g.gate(g.Started()[i]))
		}
		for range ids {
			if r := <-results; r.err != nil {
				t.Errorf("limit %d: build %s: %v", limit, r.id, r.err)
			}
		}
		if g.maxSeen != limit {
			t.Errorf("limit %d: at most %d builds ran at once, want %d", limit, g.maxSeen, limit)
		}
	}
}

func TestQueueDefaultLimit(t *testing.T) {
	g := newGateBuilder()
	q := docker.LimitBuilds(g, 0)
	results := make(chan result, 4)
	for _, p := range []string{"a", "b", "c"} {
		submit(t.Context(), q, p, "1", results)
	}
	spinUntil(func() bool { r, w := q.Len(); return r+w == 3 && w > 0 })
	if r, w := q.Len(); r != docker.DefaultBuildLimit || w != 3-docker.DefaultBuildLimit {
		t.Errorf("Len = %d running, %d waiting; want %d, %d", r, w, docker.DefaultBuildLimit, 3-docker.DefaultBuildLimit)
	}
	for _, id := range []string{"a/1", "b/1", "c/1"} {
		close(g.gate(id))
	}
	for range 3 {
		<-results
	}
}

// TestQueueCancelWhileWaiting checks that a build whose context ends while
// it waits returns at once, never runs, and does not hold up the others.
func TestQueueCancelWhileWaiting(t *testing.T) {
	g := newGateBuilder()
	q := docker.LimitBuilds(g, 1)
	results := make(chan result, 4)

	submit(t.Context(), q, "a", "1", results)
	spinUntil(func() bool { r, _ := q.Len(); return r == 1 })
	ctx, cancel := context.WithCancel(t.Context())
	submit(ctx, q, "b", "1", results)
	spinUntil(func() bool { _, w := q.Len(); return w == 1 })
	submit(t.Context(), q, "c", "1", results)
	spinUntil(func() bool { _, w := q.Len(); return w == 2 })

	cancel()
	if r := <-results; r.id != "b/1" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("first result = %s %v, want b/1 context.Canceled", r.id, r.err)
	}
	if _, w := q.Len(); w != 1 {
		t.Errorf("waiting after cancel = %d, want 1", w)
	}
	close(g.gate("a/1"))
	close(g.gate("c/1"))
	for range 2 {
		if r := <-results; r.err != nil {
			t.Errorf("build %s: %v", r.id, r.err)
		}
	}
	if got, want := g.Started(), []string{"a/1", "c/1"}; !slices.Equal(got, want) {
		t.Errorf("started = %v, want %v (the cancelled build must not run)", got, want)
	}
	if r, w := q.Len(); r != 0 || w != 0 {
		t.Errorf("Len after all = %d running, %d waiting; want 0, 0", r, w)
	}
}

func TestQueueCancelledBeforeWaiting(t *testing.T) {
	g := newGateBuilder()
	q := docker.LimitBuilds(g, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := q.Build(ctx, nil, providers.BuildSpec{Project: "a", Version: "1"}, io.Discard); !errors.Is(err, context.Canceled) {
		t.Errorf("Build with a cancelled context = %v, want context.Canceled", err)
	}
	if got := g.Started(); len(got) != 0 {
		t.Errorf("started = %v, want none", got)
	}
}
