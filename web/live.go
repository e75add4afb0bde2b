package web

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

// hub is the live-update fan-out: one poller, started by the first
// subscriber and stopped with the last, computes a cheap fingerprint of
// the dashboard's state and tells every subscriber when it changes.
type hub struct {
	fingerprint func(context.Context) (string, error)
	interval    time.Duration
	log         *slog.Logger

	mu     sync.Mutex
	subs   map[chan string]struct{}
	last   string
	stop   context.CancelFunc
	closed bool
}

func newHub(fp func(context.Context) (string, error), interval time.Duration, log *slog.Logger) *hub {
	return &hub{fingerprint: fp, interval: interval, log: log, subs: map[chan string]struct{}{}}
}

// subscribe returns a channel that receives the new fingerprint on each
// change (only the newest is kept if the reader lags), and a func to
// unsubscribe. ok is false once the hub is closed.
func (h *hub) subscribe() (ch chan string, unsubscribe func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, false
	}
	ch = make(chan string, 1)
	h.subs[ch] = struct{}{}
	// The state may have changed between the page's render and now: a
	// new subscriber hears the current fingerprint at once.
	if h.last != "" {
		ch <- h.last
	}
	if h.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.stop = cancel
		go h.poll(ctx)
	}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; !ok {
			return
		}
		delete(h.subs, ch)
		if len(h.subs) == 0 && h.stop != nil {
			h.stop()
			h.stop = nil
		}
	}, true
}

func (h *hub) poll(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		fp, err := h.fingerprint(ctx)
		if err != nil && ctx.Err() == nil {
			h.log.Warn("live updates: poll", "err", err)
		}
		if err == nil {
			h.publish(fp)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *hub) publish(fp string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fp == h.last {
		return
	}
	h.last = fp
	for ch := range h.subs {
		select {
		case <-ch: // drop the stale one
		default:
		}
		ch <- fp
	}
}

// close ends every subscription and the poller.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
		delete(h.subs, ch)
	}
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// Close ends the live update streams, so that an http.Server's Shutdown
// need not wait for them; register it with RegisterOnShutdown.
func (s *Server) Close() {
	s.init()
	s.hub.close()
}

// fingerprint summarises what the dashboard shows in a few cheap reads:
// the newest event, each project's flags, and what the controller last
// found for each (which moves during a rollout without writing events).
func (s *Server) fingerprint(ctx context.Context) (string, error) {
	h := fnv.New64a()
	evs, err := s.Store.Events(ctx, store.EventQuery{Limit: 1})
	if err != nil {
		return "", err
	}
	// Written piece by piece rather than with fmt: the overview computes
	// this on every render, for every project.
	var buf []byte
	if len(evs) > 0 {
		h.Write(append(strconv.AppendInt(append(buf, 'e'), evs[0].ID, 10), ';'))
	}
	ps, err := s.Store.Projects(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		buf = strconv.AppendInt(append(buf[:0], 'p'), p.ID, 10)
		buf = append(strconv.AppendBool(append(buf, '/'), p.Paused), '/')
		buf = append(append(buf, p.Pinned...), ';')
		if s.Controller != nil {
			if st, ok := s.Controller.Status(p.ID); ok {
				buf = append(append(buf, st.Stage...), '/')
				buf = append(append(buf, st.Result...), '/')
				buf = append(append(buf, st.Reason...), ';')
			}
		}
		h.Write(buf)
	}
	return strconv.FormatUint(h.Sum64(), 16), nil
}

// stream serves GET /events/stream: server-sent events, one "change"
// event whenever the dashboard's state changes. The page's script then
// re-fetches itself and swaps the changed regions in.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	p, _ := s.who(r)
	if !s.canRead(p) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in to follow live updates")
		return
	}
	rc := http.NewResponseController(w)
	// The server's WriteTimeout would cut the stream: it lives as long as
	// the page.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		s.Logger.Debug("live updates: clear write deadline", "err", err)
	}
	ch, unsubscribe, ok := s.hub.subscribe()
	if !ok {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer unsubscribe()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case fp, ok := <-ch:
			if !ok {
				return
			}
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", fp)
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
