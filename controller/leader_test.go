package controller_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

// fakeClock is a controller.Clock over clockwork's fake clock.
type fakeClock struct{ *clockwork.FakeClock }

func (c fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	return c.FakeClock.AfterFunc(d, f).Stop
}

var _ controller.Clock = fakeClock{}

// memLeases is a lease store on a fake clock, with the store's semantics,
// that can be made to fail and whose lease can be handed to someone else
// behind a Leader's back.
type memLeases struct {
	clock clockwork.Clock

	mu     sync.Mutex
	leases map[string]store.Lease
	fail   error // returned by every AcquireLease while set
}

func newMemLeases(clock clockwork.Clock) *memLeases {
	return &memLeases{clock: clock, leases: map[string]store.Lease{}}
}

func (m *memLeases) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return store.Lease{}, m.fail
	}
	now := m.clock.Now()
	cur, ok := m.leases[name]
	switch {
	case !ok:
		cur = store.Lease{Name: name, Term: 1}
	case cur.Holder == holder:
	case cur.Holder == "" || !now.Before(cur.ExpiresAt):
		cur.Term++
	default:
		return store.Lease{}, fmt.Errorf("held by %s: %w", cur.Holder, store.ErrConflict)
	}
	cur.Holder, cur.ExpiresAt = holder, now.Add(ttl)
	m.leases[name] = cur
	return cur, nil
}

func (m *memLeases) ReleaseLease(_ context.Context, name, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.leases[name]; ok && cur.Holder == holder {
		cur.Holder, cur.ExpiresAt = "", m.clock.Now()
		m.leases[name] = cur
	}
	return nil
}

func (m *memLeases) Lease(_ context.Context, name string) (store.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[name]
	if !ok {
		return l, store.ErrNotFound
	}
	return l, nil
}

func (m *memLeases) get(name string) store.Lease {
	l, _ := m.Lease(context.Background(), name)
	return l
}

// hand gives the lease to holder at the next term, as if it had expired
// and been taken.
func (m *memLeases) hand(name, holder string, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.leases[name]
	l.Holder, l.Term, l.ExpiresAt = holder, l.Term+1, m.clock.Now().Add(ttl)
	m.leases[name] = l
}

func (m *memLeases) setFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

var _ controller.LeaseStore = (*memLeases)(nil)

const testTTL = 30 * time.Second // renewals every 10 s

// leading is one Leader.Run in the background, with the contexts its
// function was given, in order.
type leading struct {
	t      *testing.T
	leader *controller.Leader
	cancel context.CancelFunc
	runErr chan error
	calls  chan context.Context
}

// startLeader runs l until the test ends (or stop is called), with a
// function that runs until its context ends and returns fnErr then.
func startLeader(t *testing.T, l *controller.Leader, fnErr error) *leading {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &leading{t: t, leader: l, cancel: cancel, runErr: make(chan error, 1), calls: make(chan context.Context, 10)}
	go func() {
		r.runErr <- l.Run(ctx, func(ctx context.Context) error {
			r.calls <- ctx
			<-ctx.Done()
			return fnErr
		})
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

// called waits for the next call of the function.
func (r *leading) called() context.Context {
	r.t.Helper()
	select {
	case ctx := <-r.calls:
		return ctx
	case <-time.After(10 * time.Second):
		r.t.Fatalf("%s: the function was never called", r.leader.Holder)
		return nil
	}
}

// stop cancels Run and returns its result.
func (r *leading) stop() error {
	r.cancel()
	select {
	case err := <-r.runErr:
		r.runErr <- err
		return err
	case <-time.After(10 * time.Second):
		r.t.Fatalf("%s: Run did not return after its context ended", r.leader.Holder)
		return nil
	}
}

// waiters waits until n timers wait on the clock.
func waiters(t *testing.T, clock *clockwork.FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers on the clock: %v", n, err)
	}
}

func wantTerm(t *testing.T, l *controller.Leader, want int64, wantOK bool) {
	t.Helper()
	if got, ok := l.Term(); got != want || ok != wantOK {
		t.Errorf("%s: Term() = %d, %v; want %d, %v", l.Holder, got, ok, want, wantOK)
	}
}

// TestLeaderHandover: one of two replicas runs the function; when it
// stops, it releases the lease and the other takes over at its next try,
// at the next term, without waiting for the lease to expire.
func TestLeaderHandover(t *testing.T) {
	clock := clockwork.NewFakeClock()
	leases := newMemLeases(clock)
	a := startLeader(t, &controller.Leader{Store: leases, Holder: "a", TTL: testTTL, Clock: fakeClock{clock}}, nil)
	aCtx := a.called()
	wantTerm(t, a.leader, 1, true)

	b := startLeader(t, &controller.Leader{Store: leases, Holder: "b", TTL: testTTL, Clock: fakeClock{clock}}, nil)
	waiters(t, clock, 3) // a: renewal and step-down; b: its next try
	wantTerm(t, b.leader, 0, false)
	select {
	case <-b.calls:
		t.Fatal("b's function runs while a holds the lease")
	default:
	}

	if err := a.stop(); err != nil {
		t.Errorf("a's Run: %v", err)
	}
	if err := context.Cause(aCtx); !errors.Is(err, context.Canceled) {
		t.Errorf("a's function context: cause %v, want context.Canceled (a shutdown, not a loss)", err)
	}
	if l := leases.get("controller"); l.Holder != "" {
		t.Errorf("lease after a stopped: held by %q, want released", l.Holder)
	}
	wantTerm(t, a.leader, 0, false)

	clock.Advance(testTTL / 3) // b's next try; far less than the TTL
	b.called()
	wantTerm(t, b.leader, 2, true)
}

// TestLeaderRenews: a leader renews the lease every TTL/3 and keeps its
// term and its function running for as long as renewals succeed.
func TestLeaderRenews(t *testing.T) {
	clock := clockwork.NewFakeClock()
	leases := newMemLeases(clock)
	a := startLeader(t, &controller.Leader{Store: leases, Holder: "a", TTL: testTTL, Clock: fakeClock{clock}}, nil)
	ctx := a.called()
	for i := range 10 {
		waiters(t, clock, 2)
		clock.Advance(testTTL / 3)
		waiters(t, clock, 2) // renewed: both timers set again
		if l := leases.get("controller"); !l.ExpiresAt.Equal(clock.Now().Add(testTTL)) || l.Term != 1 {
			t.Fatalf("after renewal %d: lease %+v, want term 1 expiring at %v", i+1, l, clock.Now().Add(testTTL))
		}
	}
	if ctx.Err() != nil {
		t.Errorf("function context ended while renewals succeeded: %v", context.Cause(ctx))
	}
	wantTerm(t, a.leader, 1, true)
}

// TestLeaderStepsDown: a leader whose renewals fail stops its function
// before the lease could expire, with cause ErrLeaseLost, and runs it
// again once it has the lease back.
func TestLeaderStepsDown(t *testing.T) {
	clock := clockwork.NewFakeClock()
	leases := newMemLeases(clock)
	a := startLeader(t, &controller.Leader{Store: leases, Holder: "a", TTL: testTTL, Clock: fakeClock{clock}}, nil)
	ctx := a.called()
	expires := leases.get("controller").ExpiresAt

	leases.setFail(errors.New("connection refused"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Wait for the function to stop, or for the Leader to wait on
		// its next renewal attempt and its step-down again.
		for ctx.Err() == nil {
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			err := clock.BlockUntilContext(wctx, 2)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the Leader neither stopped the function nor waited on its timers")
			}
		}
		if ctx.Err() != nil {
			break
		}
		if !clock.Now().Before(expires) {
			t.Fatalf("function still running at %v, when the lease expires", clock.Now())
		}
		clock.Advance(time.Second)
	}
	if err := context.Cause(ctx); !errors.Is(err, controller.ErrLeaseLost) {
		t.Errorf("function context: cause %v, want ErrLeaseLost", err)
	}
	wantTerm(t, a.leader, 0, false)

	leases.setFail(nil)
	waiters(t, clock, 1) // the next try
	clock.Advance(testTTL / 3)
	a.called()
	wantTerm(t, a.leader, 1, true) // nobody held it meanwhile: the same term
}

// TestLeaderLosesToAnother: when a renewal finds another holder, the
// function is stopped at once, and the Leader's fence no longer passes.
func TestLeaderLosesToAnother(t *testing.T) {
	clock := clockwork.NewFakeClock()
	leases := newMemLeases(clock)
	a := startLeader(t, &controller.Leader{Store: leases, Holder: "a", TTL: testTTL, Clock: fakeClock{clock}}, nil)
	ctx := a.called()
	leases.hand("controller", "b", time.Hour)
	waiters(t, clock, 2)
	clock.Advance(testTTL / 3)
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("function still running after the lease went to b")
	}
	if err := context.Cause(ctx); !errors.Is(err, controller.ErrLeaseLost) {
		t.Errorf("function context: cause %v, want ErrLeaseLost", err)
	}
	wantTerm(t, a.leader, 0, false)
	if err := a.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if l := leases.get("controller"); l.Holder != "b" {
		t.Errorf("after a stopped: lease held by %q, want b's kept", l.Holder)
	}
}

// TestLeaderStaleHolder: a lease held by a holder Stale says is gone is
// taken at once, at the next term.
func TestLeaderStaleHolder(t *testing.T) {
	clock := clockwork.NewFakeClock()
	leases := newMemLeases(clock)
	if _, err := leases.AcquireLease(context.Background(), "controller", "dead", time.Hour); err != nil {
		t.Fatal(err)
	}
	a := startLeader(t, &controller.Leader{Store: leases, Holder: "a", TTL: testTTL, Clock: fakeClock{clock},
		Stale: func(h string) bool { return h == "dead" }}, nil)
	a.called()
	wantTerm(t, a.leader, 2, true)
}

// TestLeaderFunctionError: an error from the function ends Run with it,
// and the lease is released.
func TestLeaderFunctionError(t *testing.T) {
	clock := clockwork.NewFakeClock()
	leases := newMemLeases(clock)
	boom := errors.New("boom")
	l := &controller.Leader{Store: leases, Holder: "a", TTL: testTTL, Clock: fakeClock{clock}}
	err := l.Run(context.Background(), func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the function's error", err)
	}
	if got := leases.get("controller"); got.Holder != "" {
		t.Errorf("lease after Run returned: held by %q, want released", got.Holder)
	}
}

// TestPausedLeaderCannotAct: a leader that was paused (its clock and
// renewals stalled) while the lease went to another replica still
// believes it leads, but the store fences it: it cannot change the
// desired state or start or stop an instance.
func TestPausedLeaderCannotAct(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": "builds:\n  - name: api\n    dockerfile: Dockerfile\n"})
		p := addProject(t, st, "fenced", repo.Bare)
		cluster := newMemCluster("http://127.0.0.1:1")
		// The clock never moves: this leader never renews and never
		// notices the lease expire.
		stalled := fakeClock{clockwork.NewFakeClock()}
		old := &controller.Leader{Store: st, Holder: "old", TTL: time.Hour, Clock: stalled}
		c := &controller.Controller{
			Store: st,
			Providers: controller.Providers{
				SCM:     func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
				Builder: &fakeBuilder{},
				Cluster: cluster,
			},
			Fence: old.Fence,
		}
		reconcile := func() error {
			var err error
			for range 20 {
				var out controller.Outcome
				if out, err = c.Reconcile(ctx, p.ID); err != nil || out.Result == controller.Ready {
					return err
				}
			}
			return err
		}
		if err := reconcile(); !errors.Is(err, store.ErrFenced) {
			t.Errorf("reconcile before taking the lease: error %v, want ErrFenced", err)
		}
		if got := cluster.versions(); len(got) != 0 {
			t.Errorf("instances started before taking the lease: %v", got)
		}

		r := startLeader(t, old, nil)
		r.called()
		if err := reconcile(); err != nil {
			t.Fatalf("reconcile as the leader: %v", err)
		}
		if got := cluster.versions(); got["0.0.1"] != 1 || len(got) != 1 {
			t.Fatalf("instances as the leader: %v, want 0.0.1 ×1", got)
		}

		// The lease expires and goes to another replica while the old
		// leader is paused.
		if err := st.ReleaseLease(ctx, "controller", "old"); err != nil {
			t.Fatal(err)
		}
		next, err := st.AcquireLease(ctx, "controller", "new", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if term, ok := old.Term(); !ok || term >= next.Term {
			t.Fatalf("paused leader: Term() = %d, %v; want it to still believe it leads at an older term than %d", term, ok, next.Term)
		}

		// A new version: the paused leader must not make it desired.
		repo.Commit("second", nil)
		if err := reconcile(); !errors.Is(err, store.ErrFenced) {
			t.Errorf("reconcile by the paused leader: error %v, want ErrFenced", err)
		}
		if d, _ := st.Desired(ctx, p.ID, "api"); d.Version != "0.0.1" {
			t.Errorf("desired after the paused leader's reconcile: %s, want 0.0.1 kept", d.Version)
		}

		// The new leader makes it desired: the paused one must not roll
		// the cluster towards it either.
		d, err := st.Desired(ctx, p.ID, "api")
		if err != nil {
			t.Fatal(err)
		}
		d.Version, d.SetBy = "0.0.2", "tag 0.0.2"
		if _, err := st.SetDesired(ctx, d); err != nil {
			t.Fatal(err)
		}
		if err := reconcile(); !errors.Is(err, store.ErrFenced) {
			t.Errorf("reconcile by the paused leader after the new leader's change: error %v, want ErrFenced", err)
		}
		if got := cluster.versions(); got["0.0.1"] != 1 || len(got) != 1 {
			t.Errorf("instances after the paused leader's reconcile: %v, want 0.0.1 ×1 untouched", got)
		}
	})
}
