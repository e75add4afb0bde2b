package web

import (
	"context"
	"sync"
	"time"
)

// viewCacheTTL bounds how long the overview may show views read before a
// change the fingerprint does not see (one that writes no event and moves
// no controller status); changes it does see show at once.
const viewCacheTTL = time.Second

// viewCache keeps the views of every project from the last full read,
// under the fingerprint of the state they were read at. Reading 1,000
// projects costs tens of milliseconds; the fingerprint a few, so renders
// between changes (several open dashboards, each refetching on every
// live-update event) share one read. The views are not changed once
// built, so callers share them.
type viewCache struct {
	mu    sync.Mutex
	key   string
	at    time.Time
	views []*projectView
}

func (c *viewCache) get(key string, now time.Time) ([]*projectView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.views == nil || c.key != key || now.Sub(c.at) >= viewCacheTTL || now.Before(c.at) {
		return nil, false
	}
	return c.views, true
}

func (c *viewCache) put(key string, at time.Time, views []*projectView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key, c.at, c.views = key, at, views
}

// overviewViews is loadAll through the cache, keyed by the same
// fingerprint the live-update stream watches: when the stream tells a
// page that something changed, the page's refetch misses the cache and
// reads the store.
func (s *Server) overviewViews(ctx context.Context) ([]*projectView, error) {
	key, err := s.fingerprint(ctx)
	if err != nil {
		return nil, err
	}
	// The wall clock, not s.Clock: the TTL is about the age of a read,
	// and a fixed test clock would otherwise keep a read forever.
	start := time.Now()
	if views, ok := s.views.get(key, start); ok {
		return views, nil
	}
	views, err := s.loadAll(ctx)
	if err != nil {
		return nil, err
	}
	s.views.put(key, start, views)
	return views, nil
}
