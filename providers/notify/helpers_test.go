package notify_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the payloads sent")

// golden compares got with testdata/name.golden, or rewrites the file
// with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got = append(bytes.Clone(got), '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("payload differs from %s:\ngot  %s\nwant %s", path, got, want)
	}
}

// received is one request a receiver answered.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is an httptest server standing in for Slack or a webhook
// consumer. It answers the statuses queued with failNext, then 200 "ok".
type receiver struct {
	URL string

	mu      sync.Mutex
	reqs    []received
	answers []int
	hang    chan struct{} // when not nil, requests wait until it is closed or they are cancelled
	arrived chan struct{} // gets a value as each request arrives, when not nil
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, received{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
	status := http.StatusOK
	if len(r.answers) > 0 {
		status, r.answers = r.answers[0], r.answers[1:]
	}
	hang, arrived := r.hang, r.arrived
	r.mu.Unlock()
	if arrived != nil {
		arrived <- struct{}{}
	}
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
			return
		}
	}
	w.WriteHeader(status)
	if status == http.StatusOK {
		fmt.Fprint(w, "ok")
	} else {
		fmt.Fprint(w, "no_service")
	}
}

// failNext makes the next requests answer statuses, in order.
func (r *receiver) failNext(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, statuses...)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// logged is one log record, its attributes as text.
type logged struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []logged
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l := logged{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		l.Attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, l)
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) all() []logged {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logged(nil), h.records...)
}

// with returns the records whose message starts with prefix.
func (h *logRecorder) with(prefix string) []logged {
	var out []logged
	for _, l := range h.all() {
		if strings.HasPrefix(l.Msg, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// text is every record as one string, to search for leaked secrets.
func (h *logRecorder) text() string {
	var b strings.Builder
	for _, l := range h.all() {
		fmt.Fprintf(&b, "%s %v\n", l.Msg, l.Attrs)
	}
	return b.String()
}

// fakeClock fires every wait at once and remembers how long it was.
type fakeClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	go f()
	return func() bool { return false }
}

func (c *fakeClock) waited() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// recorder is a Notifier that remembers what it was told.
type recorder struct {
	name string
	err  error

	mu  sync.Mutex
	got []providers.Notification
}

func (r *recorder) Notify(_ context.Context, n providers.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	return r.err
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		out = append(out, n.Kind)
	}
	return out
}

// note returns a notification as the controller sends it.
func note(kind, message string) providers.Notification {
	return providers.Notification{
		Project:        "orders",
		Kind:           kind,
		Version:        "0.0.2",
		Message:        message,
		URL:            "http://127.0.0.1:8080/projects/orders",
		At:             time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		SHA:            "3f1c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
		EnvironmentURL: "http://127.0.0.1:9001",
	}
}
