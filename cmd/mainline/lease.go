package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/webhooks"
)

// High availability. Every replica of `mainline serve` receives webhooks
// and serves the dashboard; only the one holding the "controller" lease
// runs the reconcile loop and the schedules, and its desired-state writes
// and cluster actions are fenced by the lease's term.
//
// A follower stores the webhooks it receives and leaves them pending (its
// Waker refuses); the leader processes pending deliveries when it takes
// the lease and every pendingPoll after that, so a push reaches the leader
// through the store whichever replica GitHub called.
//
// A replica that loses the lease while leading (a renewal starved past the
// lease's expiry, a database outage) stops its controller and follows
// again; when it takes the lease back, the controller runs afresh with a
// new queue and schedules and begins with a full reconcile. It does not
// exit: nothing may be there to restart it (the demo runs in-process).

// leaseName is the lease the reconcile loop runs under.
const leaseName = "controller"

// pendingPoll is how often the leader looks for deliveries a follower
// stored.
const pendingPoll = 2 * time.Second

// errFollower is what a follower's Waker answers: the delivery stays
// pending for the leader.
var errFollower = fmt.Errorf("this replica is a follower; the leader will process the delivery: %w", webhooks.ErrDeferred)

// newLeader makes the Leader of this replica.
func (srv *server) newLeader() *controller.Leader {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	l := &controller.Leader{
		Store:  srv.store,
		Name:   leaseName,
		Holder: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:])),
		TTL:    srv.settings.LeaseTTL,
		Logger: srv.logger,
	}
	if strings.HasPrefix(srv.settings.DatabaseURL, "sqlite:") {
		// Every process on an SQLite file runs on this host: one that
		// was killed need not hold up its restart for a whole TTL.
		l.Stale = func(holder string) bool { return deadLocalHolder(host, holder) }
	}
	return l
}

// deadLocalHolder reports whether holder (host/pid/random) names a
// process on this host that no longer runs. A reused pid only makes the
// answer a cautious "no".
func deadLocalHolder(host, holder string) bool {
	parts := strings.Split(holder, "/")
	if len(parts) != 3 || parts[0] != host {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

// role is "leader" or "follower", for /readyz.
func (srv *server) role() string {
	if _, ok := srv.leader.Term(); ok {
		return "leader"
	}
	return "follower"
}

// leaderWaker wakes projects when this replica leads, and refuses on a
// follower so that the webhook receiver leaves the delivery pending.
type leaderWaker struct{ srv *server }

func (w leaderWaker) WakeRepository(ctx context.Context, fullName string) (int, error) {
	if _, ok := w.srv.leader.Term(); !ok {
		return 0, errFollower
	}
	n, err := w.srv.controller.WakeRepository(ctx, fullName)
	w.srv.mergeGreenDependencies(ctx, fullName) // depsmerge.go
	return n, err
}

// lead runs the controller while this replica holds the lease, until ctx
// is done; then the lease is released for another replica to take at
// once. It returns an error if the lease is lost while leading.
//
// The controller is fenced from here on: it runs only under the lease.
// (Tests that call Reconcile on a server that does not run are not.)
func (srv *server) lead(ctx context.Context) error {
	srv.controller.Fence = srv.leader.Fence
	return srv.leader.Run(ctx, func(ctx context.Context) error {
		srv.processPending(ctx)
		defer srv.startDependents(ctx)()
		go func() {
			t := time.NewTicker(pendingPoll)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					srv.processPending(ctx)
				}
			}
		}()
		err := srv.controller.Run(ctx)
		if cause := context.Cause(ctx); errors.Is(cause, controller.ErrLeaseLost) {
			// Follow again: the Leader tries to take the lease back, and
			// the next term runs the controller afresh (a new queue and
			// schedules, starting with a full reconcile).
			srv.logger.Warn("lost the lease; following until it can be taken again", "err", cause)
			return nil
		}
		return err
	})
}

// processPending processes the deliveries left pending: by a crash, or
// by a follower that stored them.
func (srv *server) processPending(ctx context.Context) {
	pending, err := srv.store.PendingDeliveries(ctx, 1000)
	if err != nil {
		if ctx.Err() == nil {
			srv.logger.Warn("pending deliveries", "err", err)
		}
		return
	}
	for _, d := range pending {
		if err := srv.webhooks.Process(ctx, d); err != nil {
			srv.logger.Warn("reprocess delivery", "delivery", d.ID, "err", err)
		}
	}
}
