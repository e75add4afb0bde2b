package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNow is a clock the test moves by hand.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// TestRateLimit: each client IP has its own bucket; one over its burst is
// answered 429 with a Retry-After that says when a token is back, and the
// handler never sees the request; time refills the bucket.
func TestRateLimit(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1e9, 0)}
	served := 0
	h := newRateLimiter(1, 3, clock.now).wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served++
	}))
	do := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/github", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	var codes []int
	for range 4 {
		codes = append(codes, do("10.0.0.1:1234").Code)
	}
	if want := []int{200, 200, 200, 429}; !slices.Equal(codes, want) {
		t.Errorf("statuses of 4 requests with a burst of 3 = %v, want %v", codes, want)
	}
	rec := do("10.0.0.1:999") // same IP, other port
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("over the limit: %d Retry-After %q, want 429 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), `"code":"rate_limited"`) {
		t.Errorf("429 body = %q, want the rate_limited code", rec.Body.String())
	}
	if got := do("10.0.0.2:1").Code; got != http.StatusOK {
		t.Errorf("another client: %d, want 200", got)
	}
	clock.add(time.Second)
	if got := do("10.0.0.1:1234").Code; got != http.StatusOK {
		t.Errorf("after a second: %d, want 200", got)
	}
	if served != 5 {
		t.Errorf("handler served %d requests, want 5", served)
	}
}

// TestIdleClientsForgotten: buckets of clients gone quiet are dropped, so
// many one-off clients do not grow memory without bound.
func TestIdleClientsForgotten(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1e9, 0)}
	l := newRateLimiter(1, 1, clock.now)
	for _, ip := range []string{"a", "b", "c"} {
		l.allow(ip)
	}
	clock.add(rateIdle + time.Minute)
	l.allow("d")
	l.mu.Lock()
	n := len(l.clients)
	l.mu.Unlock()
	if n != 1 {
		t.Errorf("%d buckets after the others went idle, want 1", n)
	}
}

// TestLimitBodies: a declared or streamed body over the limit is refused
// with 413, a webhook may be larger than other requests, and a body within
// the limit reaches the handler whole.
func TestLimitBodies(t *testing.T) {
	h := limitBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.Write([]byte{byte(len(b) >> 20)})
	}))
	big := bytes.Repeat([]byte("x"), 2<<20)
	tests := []struct {
		name     string
		path     string
		body     io.Reader
		declared bool
		want     int
	}{
		{"small", "/api/v1/projects", strings.NewReader("{}"), true, 200},
		{"declared too large", "/api/v1/projects", bytes.NewReader(big), true, 413},
		{"streamed too large", "/projects/x/deploy", io.MultiReader(bytes.NewReader(big)), false, 413},
		{"webhook may be larger", "/webhooks/github", bytes.NewReader(big), true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tt.path, tt.body)
			if !tt.declared {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
		})
	}
}
