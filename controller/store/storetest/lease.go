package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

// A lease TTL no check outlives, and one that expires at once for the
// checks that need an expired lease (they wait for it, never for a time).
const (
	longTTL  = time.Hour
	shortTTL = time.Millisecond
)

// testLease: take, renew (same term), refuse to others, release, retake
// (next term); a release by a non-holder changes nothing.
func testLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Lease(ctx, "controller")
	wantErr(t, "Lease before any AcquireLease", err, store.ErrNotFound)
	if _, err := s.AcquireLease(ctx, "controller", "", longTTL); err == nil {
		t.Errorf("AcquireLease with an empty holder: got no error")
	}

	before := time.Now()
	a, err := s.AcquireLease(ctx, "controller", "a", longTTL)
	ok(t, "AcquireLease a (free)", err)
	if a.Name != "controller" || a.Holder != "a" || a.Term != 1 {
		t.Errorf("AcquireLease a (free) = %+v, want controller held by a at term 1", a)
	}
	// Loose bounds: the PostgreSQL clock is not this process's.
	if lo, hi := before.Add(longTTL-time.Minute), time.Now().Add(longTTL+time.Minute); a.ExpiresAt.Before(lo) || a.ExpiresAt.After(hi) {
		t.Errorf("AcquireLease a: ExpiresAt %v, want about an hour from now", a.ExpiresAt)
	}
	got, err := s.Lease(ctx, "controller")
	ok(t, "Lease", err)
	same(t, "Lease after AcquireLease", got, a)

	_, err = s.AcquireLease(ctx, "controller", "b", longTTL)
	wantErr(t, "AcquireLease b while a holds it", err, store.ErrConflict)

	renewed, err := s.AcquireLease(ctx, "controller", "a", longTTL)
	ok(t, "AcquireLease a (renewal)", err)
	if renewed.Term != a.Term || renewed.Holder != "a" || renewed.ExpiresAt.Before(a.ExpiresAt) {
		t.Errorf("renewal = %+v, want a at term %d expiring no earlier than %v", renewed, a.Term, a.ExpiresAt)
	}

	other, err := s.AcquireLease(ctx, "other", "b", longTTL)
	ok(t, "AcquireLease of another name", err)
	if other.Term != 1 || other.Holder != "b" {
		t.Errorf("AcquireLease other = %+v, want b at term 1 (leases are independent)", other)
	}

	ok(t, "ReleaseLease by a non-holder", s.ReleaseLease(ctx, "controller", "b"))
	got, err = s.Lease(ctx, "controller")
	ok(t, "Lease", err)
	same(t, "Lease after a release by a non-holder (unchanged)", got, renewed)

	ok(t, "ReleaseLease a", s.ReleaseLease(ctx, "controller", "a"))
	got, err = s.Lease(ctx, "controller")
	ok(t, "Lease after release", err)
	if got.Holder != "" || got.Term != a.Term {
		t.Errorf("Lease after release = %+v, want no holder, term %d kept", got, a.Term)
	}
	b, err := s.AcquireLease(ctx, "controller", "b", longTTL)
	ok(t, "AcquireLease b after release", err)
	if b.Holder != "b" || b.Term != a.Term+1 {
		t.Errorf("AcquireLease b after release = %+v, want b at term %d", b, a.Term+1)
	}
	ok(t, "ReleaseLease b", s.ReleaseLease(ctx, "controller", "b"))
	again, err := s.AcquireLease(ctx, "controller", "b", longTTL)
	ok(t, "AcquireLease b after its own release", err)
	if again.Term != b.Term+1 {
		t.Errorf("AcquireLease after a release by the same holder: term %d, want %d (a new holding)", again.Term, b.Term+1)
	}
}

// testLeaseRace: of holders racing for a free lease, exactly one wins;
// the others get ErrConflict.
func testLeaseRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	const racers = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []store.Lease
	)
	for i := range racers {
		wg.Go(func() {
			l, err := s.AcquireLease(ctx, "controller", fmt.Sprintf("racer-%d", i), longTTL)
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Errorf("AcquireLease racer-%d: got error %v, want nil or ErrConflict", i, err)
			}
			if err == nil {
				mu.Lock()
				winners = append(winners, l)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d holders raced for a free lease: %d won (%+v), want exactly 1", racers, len(winners), winners)
	}
	got, err := s.Lease(ctx, "controller")
	ok(t, "Lease", err)
	same(t, "Lease after the race (the winner's)", got, winners[0])
	if got.Term != 1 {
		t.Errorf("term after the race: got %d, want 1", got.Term)
	}
}

// acquireWhenExpired retries AcquireLease until the current lease has
// expired; ErrConflict is the only error allowed meanwhile.
func acquireWhenExpired(t *testing.T, s store.Store, name, holder string) store.Lease {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := s.AcquireLease(t.Context(), name, holder, longTTL)
		if err == nil {
			return l
		}
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("AcquireLease %s while waiting for expiry: %v", holder, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %s never expired for %s: %v", name, holder, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// testLeaseExpiry: an expired lease goes to the next holder at the next
// term; the old holder can neither renew nor release it then.
func testLeaseExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, err := s.AcquireLease(ctx, "controller", "a", shortTTL)
	ok(t, "AcquireLease a", err)
	b := acquireWhenExpired(t, s, "controller", "b")
	if b.Holder != "b" || b.Term != a.Term+1 {
		t.Errorf("AcquireLease b after a's expiry = %+v, want b at term %d", b, a.Term+1)
	}
	_, err = s.AcquireLease(ctx, "controller", "a", longTTL)
	wantErr(t, "renewal by a after b took over", err, store.ErrConflict)
	ok(t, "ReleaseLease by the old holder", s.ReleaseLease(ctx, "controller", "a"))
	got, err := s.Lease(ctx, "controller")
	ok(t, "Lease", err)
	same(t, "Lease after the old holder's release (still b's)", got, b)

	// The same holder taking its own expired lease back keeps the term:
	// nobody held it in between.
	c, err := s.AcquireLease(ctx, "solo", "c", shortTTL)
	ok(t, "AcquireLease c", err)
	for {
		if err := s.CheckLease(ctx, "solo", c.Term); errors.Is(err, store.ErrFenced) {
			break
		} else if err != nil {
			t.Fatalf("CheckLease: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	back, err := s.AcquireLease(ctx, "solo", "c", longTTL)
	ok(t, "AcquireLease c after its own expiry", err)
	if back.Term != c.Term {
		t.Errorf("term after the same holder took its expired lease back: got %d, want %d", back.Term, c.Term)
	}
}

// testLeaseFence: CheckLease passes only for the current, unexpired term;
// a write after it in a transaction commits only when it passes.
func testLeaseFence(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "fenced")
	wantErr(t, "CheckLease of a lease never taken", s.CheckLease(ctx, "controller", 1), store.ErrFenced)

	a, err := s.AcquireLease(ctx, "controller", "a", longTTL)
	ok(t, "AcquireLease a", err)
	ok(t, "CheckLease at the current term", s.CheckLease(ctx, "controller", a.Term))
	wantErr(t, "CheckLease at another term", s.CheckLease(ctx, "controller", a.Term+1), store.ErrFenced)

	fencedWrite := func(term int64, version string) error {
		return s.InTx(ctx, func(tx store.Store) error {
			if err := tx.CheckLease(ctx, "controller", term); err != nil {
				return err
			}
			cur, err := tx.Desired(ctx, p.ID, "api")
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			_, err = tx.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: "api", Version: version,
				Instances: 1, SetAt: t0, SetBy: "leader", Revision: cur.Revision})
			return err
		})
	}
	ok(t, "fenced write by the leader", fencedWrite(a.Term, "0.0.1"))

	ok(t, "ReleaseLease a", s.ReleaseLease(ctx, "controller", "a"))
	wantErr(t, "CheckLease after release", s.CheckLease(ctx, "controller", a.Term), store.ErrFenced)
	b, err := s.AcquireLease(ctx, "controller", "b", longTTL)
	ok(t, "AcquireLease b", err)

	wantErr(t, "fenced write by the deposed leader", fencedWrite(a.Term, "0.0.2"), store.ErrFenced)
	got, err := s.Desired(ctx, p.ID, "api")
	ok(t, "Desired", err)
	if got.Version != "0.0.1" {
		t.Errorf("desired after a deposed leader's write: %s, want 0.0.1 kept", got.Version)
	}
	ok(t, "fenced write by the new leader", fencedWrite(b.Term, "0.0.3"))

	// An expired lease fences its holder even before anyone takes it.
	c, err := s.AcquireLease(ctx, "short", "c", shortTTL)
	ok(t, "AcquireLease c", err)
	deadline := time.Now().Add(30 * time.Second)
	for s.CheckLease(ctx, "short", c.Term) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("lease with a %v TTL never expired", shortTTL)
		}
		time.Sleep(time.Millisecond)
	}
	wantErr(t, "CheckLease of an expired lease", s.CheckLease(ctx, "short", c.Term), store.ErrFenced)
}
