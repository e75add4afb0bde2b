package docker

import (
	"context"
	"io"
	"sync"

	"github.com/mainline-cd/mainline/providers"
)

// DefaultBuildLimit is how many builds a Queue runs at once when not told.
const DefaultBuildLimit = 2

// Queue is a providers.Builder that runs at most a fixed number of builds of
// the Builder it wraps at once. When builds wait for a slot, the slot goes to
// the waiting project that was served least recently, and within a project
// to its oldest build: a project that queues ten builds does not hold back a
// project that queues one. A build whose context ends while it waits leaves
// the queue without taking a slot.
type Queue struct {
	b     providers.Builder
	limit int

	mu      sync.Mutex
	running int
	seq     uint64                   // counts grants, to order projects by last service
	waiting map[string][]*queueEntry // per project, oldest first
	nwait   int
	// lastServed is the grant number of each project's latest grant, kept
	// while the project has builds running or waiting.
	lastServed map[string]uint64
	active     map[string]int    // builds running per project
	arrival    map[string]uint64 // when each waiting project started waiting
	arrivals   uint64            // counts projects starting to wait
}

// queueEntry is one build waiting for a slot.
type queueEntry struct {
	ready   chan struct{} // closed when the build gets its slot
	granted bool
}

var _ providers.Builder = (*Queue)(nil)

// LimitBuilds returns a Queue running at most n builds of b at once;
// n <= 0 means DefaultBuildLimit.
func LimitBuilds(b providers.Builder, n int) *Queue {
	if n <= 0 {
		n = DefaultBuildLimit
	}
	return &Queue{
		b:          b,
		limit:      n,
		waiting:    make(map[string][]*queueEntry),
		lastServed: make(map[string]uint64),
		active:     make(map[string]int),
		arrival:    make(map[string]uint64),
	}
}

// Build waits for a slot, then runs the wrapped Builder's Build. If ctx
// ends while waiting it returns ctx.Err() and nothing is built.
func (q *Queue) Build(ctx context.Context, src providers.Source, spec providers.BuildSpec, log io.Writer) (string, error) {
	if err := q.acquire(ctx, spec.Project); err != nil {
		return "", err
	}
	defer q.release(spec.Project)
	return q.b.Build(ctx, src, spec, log)
}

// Len reports how many builds are running and how many wait for a slot.
func (q *Queue) Len() (running, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running, q.nwait
}

func (q *Queue) acquire(ctx context.Context, project string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	if q.running < q.limit && q.nwait == 0 {
		q.grant(project)
		q.mu.Unlock()
		return nil
	}
	e := &queueEntry{ready: make(chan struct{})}
	if len(q.waiting[project]) == 0 {
		q.arrivals++
		q.arrival[project] = q.arrivals
	}
	q.waiting[project] = append(q.waiting[project], e)
	q.nwait++
	q.mu.Unlock()

	select {
	case <-e.ready:
		return nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.granted {
		// The slot came as the context ended; hand it on.
		q.running--
		q.active[project]--
		q.forget(project)
		q.dispatch()
		return ctx.Err()
	}
	list := q.waiting[project]
	for i, w := range list {
		if w == e {
			q.waiting[project] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(q.waiting[project]) == 0 {
		delete(q.waiting, project)
	}
	q.nwait--
	q.forget(project)
	return ctx.Err()
}

func (q *Queue) release(project string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running--
	q.active[project]--
	q.forget(project)
	q.dispatch()
}

// grant gives project a slot; q.mu is held.
func (q *Queue) grant(project string) {
	q.seq++
	q.running++
	q.active[project]++
	q.lastServed[project] = q.seq
}

// forget drops what the queue knows of a project with nothing running or
// waiting, so the maps do not grow with every project ever seen; q.mu is
// held.
func (q *Queue) forget(project string) {
	if q.active[project] > 0 || len(q.waiting[project]) > 0 {
		return
	}
	delete(q.active, project)
	delete(q.lastServed, project)
	delete(q.arrival, project)
}

// dispatch hands free slots to waiting builds, least recently served
// project first (ties: the project that started waiting first); q.mu is
// held.
func (q *Queue) dispatch() {
	for q.running < q.limit && q.nwait > 0 {
		var pick string
		found := false
		for p := range q.waiting {
			if !found || q.lastServed[p] < q.lastServed[pick] ||
				q.lastServed[p] == q.lastServed[pick] && q.arrival[p] < q.arrival[pick] {
				pick, found = p, true
			}
		}
		list := q.waiting[pick]
		e := list[0]
		if len(list) == 1 {
			delete(q.waiting, pick)
		} else {
			q.waiting[pick] = list[1:]
		}
		q.nwait--
		q.grant(pick)
		e.granted = true
		close(e.ready)
	}
}
