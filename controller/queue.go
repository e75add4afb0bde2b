package controller

import (
	"sync"
	"time"
)

// queue is a work queue of project IDs with the guarantees the reconcile
// loop relies on (the same ones as client-go's workqueue):
//
//   - a key is in the queue at most once, however often it is added;
//   - a key is handed to at most one worker at a time; if it is added while
//     a worker has it, it is queued again when that worker calls done, so
//     no wake-up is lost;
//   - addAfter delays an add; the earliest pending delay wins.
type queue struct {
	clock Clock

	mu       sync.Mutex
	cond     *sync.Cond
	order    []int64        // keys ready to hand out, FIFO
	queued   map[int64]bool // keys in order
	active   map[int64]bool // keys a worker holds
	dirty    map[int64]bool // active keys added again meanwhile
	timers   map[int64]delayed
	shutdown bool
}

type delayed struct {
	at   time.Time
	stop func() bool
}

func newQueue(clock Clock) *queue {
	q := &queue{
		clock:  clock,
		queued: map[int64]bool{},
		active: map[int64]bool{},
		dirty:  map[int64]bool{},
		timers: map[int64]delayed{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues key now.
func (q *queue) add(key int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *queue) addLocked(key int64) {
	if q.shutdown {
		return
	}
	if t, ok := q.timers[key]; ok {
		t.stop()
		delete(q.timers, key)
	}
	if q.active[key] {
		q.dirty[key] = true
		return
	}
	if q.queued[key] {
		return
	}
	q.queued[key] = true
	q.order = append(q.order, key)
	q.cond.Signal()
}

// addAfter queues key after d, unless it is queued sooner.
func (q *queue) addAfter(key int64, d time.Duration) {
	if d <= 0 {
		q.add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown || q.queued[key] {
		return
	}
	at := q.clock.Now().Add(d)
	if t, ok := q.timers[key]; ok {
		if !t.at.After(at) {
			return
		}
		t.stop()
	}
	stop := q.clock.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if t, ok := q.timers[key]; ok && t.at.Equal(at) {
			delete(q.timers, key)
			q.addLocked(key)
		}
	})
	q.timers[key] = delayed{at: at, stop: stop}
}

// get blocks until a key is ready and hands it to the caller, who must call
// done with it. It returns false once the queue is shut down.
func (q *queue) get() (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return 0, false
	}
	key := q.order[0]
	q.order = q.order[1:]
	delete(q.queued, key)
	q.active[key] = true
	return key, true
}

// done releases key; if it was added while held, it is queued again.
func (q *queue) done(key int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.active, key)
	if q.dirty[key] {
		delete(q.dirty, key)
		q.addLocked(key)
	}
}

// len is the number of keys waiting to be handed out (the queue depth).
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// close stops handing out keys and cancels pending delays.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for k, t := range q.timers {
		t.stop()
		delete(q.timers, k)
	}
	q.cond.Broadcast()
}
