package main

import (
	"context"
	"os"

	"github.com/mainline-cd/mainline/controller/dependents"
)

// startDependents starts dependents day's scheduler — one job per project
// on its `dependencies.schedule`, spread over a window — for as long as
// ctx lasts, and returns a func that stops it. It runs on the leader only,
// beside the reconcile loop. A misconfiguration is logged, not fatal:
// deploys go on without dependency upgrades.
func (srv *server) startDependents(ctx context.Context) func() {
	day, err := newDependentsDay(srv.settings, os.Getenv, srv.store, srv.scm, srv.controller.Providers.Notifier, srv.logger)
	if err != nil {
		srv.logger.Error("dependents day disabled", "err", err)
		return func() {}
	}
	s := &dependents.Scheduler{Day: day, Logger: srv.logger}
	if err := s.Start(ctx); err != nil {
		srv.logger.Error("dependents day disabled", "err", err)
		return func() {}
	}
	srv.depsMu.Lock()
	srv.deps = s
	srv.depsMu.Unlock()
	return func() {
		if err := s.Stop(); err != nil {
			srv.logger.Warn("stop dependents scheduler", "err", err)
		}
	}
}
