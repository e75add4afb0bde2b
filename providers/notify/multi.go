package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mainline-cd/mainline/providers"
)

var _ providers.Notifier = (*Multi)(nil)

// Multi sends each notification to the notifiers routed for its project
// and kind, all at once.
type Multi struct {
	// Projects holds routes for single projects: when a notification's
	// project has an entry, that Multi routes it instead of this one.
	Projects map[string]*Multi
	// Routes lists the notifiers of each kind. A kind with an entry, even
	// an empty one, goes to those notifiers only; an empty entry mutes it.
	Routes map[string][]providers.Notifier
	// Default lists the notifiers of kinds without a route.
	Default []providers.Notifier
}

// Notify sends n to its notifiers concurrently and returns when all have
// answered, with every failure joined. Put Retrying in front of slow
// receivers, or of Multi, so callers never wait for them.
func (m *Multi) Notify(ctx context.Context, n providers.Notification) error {
	if p, ok := m.Projects[n.Project]; ok && p != nil {
		return p.Notify(ctx, n)
	}
	targets, ok := m.Routes[n.Kind]
	if !ok {
		targets = m.Default
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			if err := t.Notify(ctx, n); err != nil {
				errs[i] = fmt.Errorf("%T: %w", t, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
