package main

import (
	"context"
	"errors"

	"github.com/mainline-cd/mainline/controller/store"
)

// mergeGreenDependencies re-checks the open dependency pull requests of
// the projects watching fullName and merges those whose checks are green.
// The leader's Waker calls it for every waking webhook of the repository
// (pull_request, check_suite, check_run, status, push), so a pull request
// merges as soon as its checks report, not at the next scheduler refresh.
// Projects without an open dependency pull request in the store cost one
// store read; failures are logged: the delivery itself was handled.
func (srv *server) mergeGreenDependencies(ctx context.Context, fullName string) {
	srv.depsMu.Lock()
	s := srv.deps
	srv.depsMu.Unlock()
	if s == nil {
		return
	}
	ps, err := srv.store.ProjectsByLocation(ctx, "github", fullName)
	if err != nil {
		srv.logger.Warn("dependency pull requests", "repo", fullName, "err", err)
		return
	}
	if p, err := srv.store.ProjectByName(ctx, fullName); err == nil {
		dup := false
		for _, q := range ps {
			dup = dup || q.ID == p.ID
		}
		if !dup {
			ps = append(ps, p)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		srv.logger.Warn("dependency pull requests", "repo", fullName, "err", err)
	}
	for _, p := range ps {
		if !s.Day.HasOpenPR(ctx, p.ID) {
			continue
		}
		merged, err := s.Day.MergeIfGreen(ctx, p.Name)
		if err != nil {
			srv.logger.Warn("merge dependency pull request", "project", p.Name, "err", err)
			continue
		}
		if merged {
			srv.logger.Info("merged green dependency pull request", "project", p.Name, "repo", fullName)
		}
	}
}
