package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

var _ providers.Notifier = (*Retrying)(nil)

// ErrClosed is returned by Notify after Close.
var ErrClosed = errors.New("notifier closed")

// Clock waits, so tests can retry without sleeping. The controller's clock
// satisfies it.
type Clock interface {
	// AfterFunc calls f in its own goroutine after d and returns a func
	// that cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type wallClock struct{}

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Retrying delivers notifications to Next in the background, trying each a
// few times, so that a slow, hanging or failing receiver never holds up
// the caller: Notify only queues. Notifications are sent one at a time, in
// the order they were queued, so a rollout's "finished" never overtakes its
// "started". When the queue is full, new notifications are dropped and
// logged.
//
// Set the fields before the first Notify; a Retrying must not be copied
// after that. Close flushes the queue.
type Retrying struct {
	// Next receives the notifications. It must return when its context
	// ends.
	Next providers.Notifier
	// Attempts is how many times one notification is tried in all; zero
	// means 3.
	Attempts int
	// Backoff is the wait after the first failure, doubled after each
	// further one; zero means 1 s.
	Backoff time.Duration
	// Timeout bounds each attempt; zero means 30 s.
	Timeout time.Duration
	// QueueSize bounds the notifications waiting to be sent; zero means 64.
	QueueSize int
	// Clock waits between attempts; nil is the wall clock.
	Clock Clock
	// Logger receives retries, give-ups and drops; nil discards them.
	Logger *slog.Logger

	once   sync.Once
	clock  Clock
	log    *slog.Logger
	mu     sync.Mutex // guards closed and sending on queue
	closed bool
	queue  chan providers.Notification
	done   chan struct{} // closed when the sender has stopped
	ctx    context.Context
	cancel context.CancelFunc
}

func (r *Retrying) start() {
	r.once.Do(func() {
		size := r.QueueSize
		if size <= 0 {
			size = 64
		}
		r.clock, r.log = r.Clock, r.Logger
		if r.clock == nil {
			r.clock = wallClock{}
		}
		if r.log == nil {
			r.log = slog.New(slog.DiscardHandler)
		}
		r.queue = make(chan providers.Notification, size)
		r.done = make(chan struct{})
		r.ctx, r.cancel = context.WithCancel(context.Background())
		go r.run()
	})
}

// Notify queues n and returns at once. The delivery does not use ctx: it
// goes on after the caller's context ends, until Close. A full queue drops
// n, logs it and returns nil; after Close, Notify returns ErrClosed.
func (r *Retrying) Notify(ctx context.Context, n providers.Notification) error {
	r.start()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("notify %s %s: %w", n.Kind, n.Project, ErrClosed)
	}
	select {
	case r.queue <- n:
	default:
		r.log.Warn("notification dropped: queue full", attrs(n, slog.Int("queue", cap(r.queue)))...)
	}
	return nil
}

// Close stops taking notifications and waits until the queued ones have
// been sent or given up on. If ctx ends first, the attempt in flight is
// cancelled, what is still queued is dropped (and logged), and Close
// returns ctx's error once the sender has stopped.
func (r *Retrying) Close(ctx context.Context) error {
	r.start()
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		<-r.done
		return fmt.Errorf("flush notifications: %w", ctx.Err())
	}
}

func (r *Retrying) run() {
	defer close(r.done)
	for n := range r.queue {
		if r.ctx.Err() != nil {
			r.log.Warn("notification dropped: closing", attrs(n)...)
			continue
		}
		r.deliver(n)
	}
}

// deliver tries n up to Attempts times, waiting Backoff, 2×Backoff, …
// between tries. An error that says it is not temporary (a receiver's
// 4xx) is not retried.
func (r *Retrying) deliver(n providers.Notification) {
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	wait := r.Backoff
	if wait <= 0 {
		wait = time.Second
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.ctx, timeout)
		err := r.Next.Notify(ctx, n)
		cancel()
		if err == nil {
			return
		}
		if attempt >= attempts || !temporary(err) || r.ctx.Err() != nil {
			r.log.Error("notification failed, giving up", attrs(n, slog.Int("attempts", attempt), slog.Any("err", err))...)
			return
		}
		r.log.Info("notification failed, will retry", attrs(n, slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("err", err))...)
		if !r.sleep(wait) {
			r.log.Error("notification failed, giving up: closing", attrs(n, slog.Int("attempts", attempt), slog.Any("err", err))...)
			return
		}
		wait *= 2
	}
}

// sleep waits d on the clock; false if Close cut it short.
func (r *Retrying) sleep(d time.Duration) bool {
	fired := make(chan struct{})
	stop := r.clock.AfterFunc(d, func() { close(fired) })
	select {
	case <-fired:
		return true
	case <-r.ctx.Done():
		stop()
		return false
	}
}

// temporary reports whether err may go away on its own. Only an
// *HTTPError says it will not (a receiver's 4xx); a joined error is
// temporary if any of its parts is.
func temporary(err error) bool {
	switch e := err.(type) {
	case *HTTPError:
		return e.Temporary()
	case interface{ Unwrap() []error }:
		for _, part := range e.Unwrap() {
			if temporary(part) {
				return true
			}
		}
		return false
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			return temporary(inner)
		}
	}
	return true
}

func attrs(n providers.Notification, extra ...any) []any {
	return append([]any{"project", n.Project, "kind", n.Kind, "version", n.Version}, extra...)
}
