package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

// LeaseStore is what a Leader needs from the store.
type LeaseStore interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	Lease(ctx context.Context, name string) (store.Lease, error)
}

var _ LeaseStore = (store.Store)(nil)

// ErrLeaseLost is the cause (see context.Cause) of the context a Leader
// gives its function when the lease is lost rather than given up.
var ErrLeaseLost = errors.New("controller: leader lease lost")

// Leader runs a function only while it holds a lease in the store: of all
// replicas running a Leader with the same Name, at most one runs it at a
// time. The lease expires TTL after it was last renewed, so a replica that
// dies or hangs loses it; renewals happen every TTL/3.
//
// A Leader stops its function (cancels its context) before the lease can
// expire by its own clock: when a renewal is refused, or when no renewal
// has succeeded in time for the lease to outlive the next attempt. It
// measures the lease from the moment it asked for it, so a database whose
// clock runs ahead or behind changes nothing. A replica that was paused
// (a stopped process, a long GC, a frozen VM) cannot know that it lost the
// lease before it acts again: Fence, checked in the same transaction as a
// write, covers that case (see Controller.Fence).
//
// Set the fields, then call Run once.
type Leader struct {
	Store LeaseStore
	// Name is the lease's name (default "controller").
	Name string
	// Holder names this replica; it must be unique among replicas and
	// across restarts (e.g. hostname, pid and a random suffix).
	Holder string
	// TTL is how long the lease lasts without a renewal (default 15 s):
	// how long a dead leader can hold up the others.
	TTL time.Duration
	// Clock is the source of time; nil is the wall clock.
	Clock Clock
	// Logger receives leadership changes; nil discards them.
	Logger *slog.Logger
	// Stale, when set, reports whether the holder of a lease found taken
	// is known to be gone (say a process on this host that no longer
	// runs); its lease is then released and taken at once instead of
	// waiting for it to expire.
	Stale func(holder string) bool

	initOnce sync.Once

	mu       sync.Mutex
	held     bool
	term     int64
	deadline time.Time // by Clock: the lease may have expired from then on
}

func (l *Leader) init() {
	l.initOnce.Do(func() {
		if l.Name == "" {
			l.Name = "controller"
		}
		if l.TTL <= 0 {
			l.TTL = 15 * time.Second
		}
		if l.Clock == nil {
			l.Clock = realClock{}
		}
		if l.Logger == nil {
			l.Logger = slog.New(slog.DiscardHandler)
		}
		l.Logger = l.Logger.With("lease", l.Name, "holder", l.Holder)
	})
}

// Term returns the term of the lease this Leader holds, and false when it
// holds none (or its hold may have expired by now).
func (l *Leader) Term() (int64, bool) {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held || !l.Clock.Now().Before(l.deadline) {
		return 0, false
	}
	return l.term, true
}

// Fence returns nil if this Leader holds the lease and st agrees that its
// term is current and unexpired, and an error wrapping store.ErrFenced
// otherwise. Called with the Store of a transaction, it keeps the lease
// from changing hands until the transaction ends (see store.CheckLease).
// It fits Controller.Fence.
func (l *Leader) Fence(ctx context.Context, st store.Store) error {
	term, ok := l.Term()
	if !ok {
		return fmt.Errorf("lease %s: not the leader: %w", l.Name, store.ErrFenced)
	}
	return st.CheckLease(ctx, l.Name, term)
}

// renewEvery is how often a held lease is renewed, and how often a
// follower tries to take it.
func (l *Leader) renewEvery() time.Duration { return l.TTL / 3 }

// Run takes the lease whenever it can and runs fn while it holds it,
// until ctx is done; then it cancels fn, waits for it and releases the
// lease, so another replica can take over at once. If the lease is lost
// while fn runs, fn's context is cancelled with cause ErrLeaseLost and,
// once fn returns, Run tries to take the lease again and then calls fn
// anew. If fn returns an error, Run releases the lease and returns it; if
// fn returns nil while the lease is held, Run releases it and returns nil.
// Run returns nil when ctx is done.
func (l *Leader) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	l.init()
	if l.Holder == "" {
		return errors.New("leader: no holder name")
	}
	for {
		lease, sent, err := l.acquire(ctx)
		if ctx.Err() != nil {
			if err == nil {
				l.release()
			}
			return nil
		}
		if err != nil {
			if !errors.Is(err, store.ErrConflict) {
				l.Logger.Warn("acquire lease", "err", err)
			}
			if !l.sleep(ctx, l.renewEvery()) {
				return nil
			}
			continue
		}
		l.setHeld(lease.Term, sent)
		l.Logger.Info("became the leader", "term", lease.Term)
		lost, err := l.lead(ctx, lease.Term, fn)
		if !lost {
			l.release()
		}
		if err != nil || !lost {
			return err
		}
	}
}

// acquire tries to take the lease once, first releasing it for a holder
// Stale says is gone. sent is when the request went out, from which the
// lease's expiry is counted.
func (l *Leader) acquire(ctx context.Context) (lease store.Lease, sent time.Time, err error) {
	sent = l.Clock.Now()
	lease, err = l.Store.AcquireLease(ctx, l.Name, l.Holder, l.TTL)
	if !errors.Is(err, store.ErrConflict) || l.Stale == nil {
		return lease, sent, err
	}
	cur, lerr := l.Store.Lease(ctx, l.Name)
	if lerr != nil || cur.Holder == "" || cur.Holder == l.Holder || !l.Stale(cur.Holder) {
		return lease, sent, err
	}
	l.Logger.Info("releasing the lease of a holder that is gone", "stale_holder", cur.Holder, "term", cur.Term)
	if err := l.Store.ReleaseLease(ctx, l.Name, cur.Holder); err != nil {
		return store.Lease{}, sent, err
	}
	sent = l.Clock.Now()
	lease, err = l.Store.AcquireLease(ctx, l.Name, l.Holder, l.TTL)
	return lease, sent, err
}

// lead runs fn while renewing the lease. It returns when fn has returned:
// lost reports whether the lease was lost meanwhile.
func (l *Leader) lead(ctx context.Context, term int64, fn func(context.Context) error) (lost bool, err error) {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- fn(fctx) }()

	type renewal struct {
		lease store.Lease
		sent  time.Time
		err   error
	}
	renewed := make(chan renewal, 1)
	renewing := false
	renewTimer, stopRenew := l.after(l.renewEvery())
	defer func() { stopRenew() }()
	// stepDown fires when the lease would expire before the next renewal
	// could save it: a renewal that hangs cannot keep fn running.
	stepDownTimer, stopStepDown := l.after(l.untilStepDown())
	defer func() { stopStepDown() }()

	loseLease := func(why string, args ...any) {
		if lost {
			return
		}
		lost = true
		l.mu.Lock()
		l.held = false
		l.mu.Unlock()
		l.Logger.Warn("lost the lease: "+why, append([]any{"term", term}, args...)...)
		cancel(ErrLeaseLost)
	}
	ctxDone := ctx.Done()
	for {
		select {
		case err := <-done:
			l.mu.Lock()
			l.held = false
			l.mu.Unlock()
			if renewing {
				// Its context is cancelled; wait, so that a late renewal
				// cannot take the lease back after Run released it.
				<-renewed
			}
			return lost, err
		case <-ctxDone:
			ctxDone = nil
			cancel(nil) // fn returns, then done fires
		case <-renewTimer:
			if renewing || lost || ctx.Err() != nil {
				continue
			}
			renewing = true
			go func() {
				// A renewal may wait no longer than the lease would last.
				rctx, rcancel := context.WithTimeout(fctx, l.renewEvery())
				defer rcancel()
				sent := l.Clock.Now()
				lease, err := l.Store.AcquireLease(rctx, l.Name, l.Holder, l.TTL)
				renewed <- renewal{lease, sent, err}
			}()
		case r := <-renewed:
			renewing = false
			if lost || ctx.Err() != nil {
				continue
			}
			switch {
			case errors.Is(r.err, store.ErrConflict):
				loseLease("another holder has it", "err", r.err)
				continue
			case r.err == nil && r.lease.Term != term:
				loseLease("it changed hands meanwhile", "new_term", r.lease.Term)
				continue
			case r.err != nil:
				// Try again soon: the step-down timer decides when it
				// is too late.
				l.Logger.Warn("renew lease", "term", term, "err", r.err)
				renewTimer, stopRenew = l.after(l.TTL / 10)
				continue
			}
			l.setHeld(term, r.sent)
			stopStepDown()
			stepDownTimer, stopStepDown = l.after(l.untilStepDown())
			renewTimer, stopRenew = l.after(l.renewEvery())
		case <-stepDownTimer:
			loseLease("no renewal succeeded in time", "ttl", l.TTL)
		}
	}
}

// untilStepDown is how long fn may go on without another successful
// renewal: until one renewal interval before the lease expires.
func (l *Leader) untilStepDown() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline.Sub(l.Clock.Now()) - l.renewEvery()
}

func (l *Leader) setHeld(term int64, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held, l.term, l.deadline = true, term, sent.Add(l.TTL)
}

// release gives the lease up so another replica need not wait for it to
// expire. It runs after ctx is done, so it has its own short deadline.
func (l *Leader) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Store.ReleaseLease(ctx, l.Name, l.Holder); err != nil {
		l.Logger.Warn("release lease", "err", err)
		return
	}
	l.Logger.Info("released the lease")
}

// after returns a channel that receives once d from now, by Clock.
func (l *Leader) after(d time.Duration) (<-chan struct{}, func() bool) {
	ch := make(chan struct{}, 1)
	stop := l.Clock.AfterFunc(max(d, 0), func() { ch <- struct{}{} })
	return ch, stop
}

// sleep waits d by Clock, and reports false if ctx ended first.
func (l *Leader) sleep(ctx context.Context, d time.Duration) bool {
	ch, stop := l.after(d)
	defer stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// fenced runs write on the store. With a Fence set, it runs it in a
// transaction that passes the fence first: a replica that is no longer
// the leader cannot commit the write, even if it has not noticed yet.
func (c *Controller) fenced(ctx context.Context, write func(st store.Store) error) error {
	if c.Fence == nil {
		return write(c.Store)
	}
	return c.Store.InTx(ctx, func(tx store.Store) error {
		if err := c.Fence(ctx, tx); err != nil {
			return err
		}
		return write(tx)
	})
}

// checkFence checks the Fence, if any, before an action outside the store (a
// cluster Start or Stop). It cannot make the action atomic with the
// check, but it bounds what a deposed leader does to the one call in
// flight when it lost the lease.
func (c *Controller) checkFence(ctx context.Context, action string) error {
	if c.Fence == nil {
		return nil
	}
	if err := c.Fence(ctx, c.Store); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}
