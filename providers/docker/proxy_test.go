package docker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers/docker"
)

// namedBackend answers every request with its name and what body it got.
func namedBackend(t *testing.T, name string) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", name, r.Method, body)
	}))
	t.Cleanup(srv.Close)
	return mustURL(t, srv.URL)
}

// deadBackend returns a loopback address nothing listens on.
func deadBackend(t *testing.T) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return mustURL(t, "http://"+addr)
}

// hangupBackend reads each request and closes the connection without an
// answer, as an instance dying mid-request would.
func hangupBackend(t *testing.T, got *atomic.Int32) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		got.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return mustURL(t, srv.URL)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// do sends one request through h and returns the status and body.
func do(t *testing.T, h http.Handler, method, body string, header http.Header) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://shop.test/orders", r)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestProxyNoBackend(t *testing.T) {
	p := docker.NewProxy(docker.ProxyConfig{Name: "shop/api"})
	req := httptest.NewRequest(http.MethodGet, "http://shop.test/", nil)
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if got, want := rec.Body.String(), "no healthy instance of shop/api"; !strings.Contains(got, want) {
		t.Errorf("body %q, want it to contain %q", got, want)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After header on 503")
	}

	// Removing the last backend gives 503 again.
	p.Set("a", namedBackend(t, "a"))
	if code, _ := do(t, p, http.MethodGet, "", nil); code != http.StatusOK {
		t.Fatalf("with a backend: status %d, want 200", code)
	}
	p.Remove("a")
	if code, _ := do(t, p, http.MethodGet, "", nil); code != http.StatusServiceUnavailable {
		t.Errorf("after Remove: status %d, want 503", code)
	}
}

func TestProxyRoundRobin(t *testing.T) {
	p := docker.NewProxy(docker.ProxyConfig{})
	p.SetBackends(map[string]*url.URL{"a": namedBackend(t, "a"), "b": namedBackend(t, "b"), "c": namedBackend(t, "c")})
	counts := map[string]int{}
	for range 9 {
		code, body := do(t, p, http.MethodGet, "", nil)
		if code != http.StatusOK {
			t.Fatalf("status %d %q", code, body)
		}
		counts[strings.Fields(body)[0]]++
	}
	for _, name := range []string{"a", "b", "c"} {
		if counts[name] != 3 {
			t.Errorf("backend %s got %d of 9 requests, want 3 (counts %v)", name, counts[name], counts)
		}
	}

	// SetBackends replaces the set.
	p.SetBackends(map[string]*url.URL{"d": namedBackend(t, "d")})
	if got := strings.Join(p.Backends(), ","); got != "d" {
		t.Errorf("Backends() = %s, want d", got)
	}
	for range 3 {
		if _, body := do(t, p, http.MethodGet, "", nil); !strings.HasPrefix(body, "d ") {
			t.Errorf("after SetBackends: answered by %q, want d", body)
		}
	}
}

// TestProxyRetry: a failed backend is retried on another when nothing was
// sent or the request is idempotent, with its body, and not otherwise.
func TestProxyRetry(t *testing.T) {
	big := strings.Repeat("x", 100)
	tests := []struct {
		name      string
		first     string // "dead" or "hangup": the backend tried first
		method    string
		body      string
		header    http.Header
		wantCode  int
		wantBody  string
		wantTries int // requests the hang-up backend saw
	}{
		{"GET, connection refused", "dead", http.MethodGet, "", nil, 200, "z GET ", 0},
		{"POST, connection refused: not sent, so retried with its body", "dead", http.MethodPost, `{"sku":"1"}`, nil, 200, `z POST {"sku":"1"}`, 0},
		{"GET, hang-up after sending: idempotent, retried", "hangup", http.MethodGet, "", nil, 200, "z GET ", 1},
		{"HEAD, hang-up: retried", "hangup", http.MethodHead, "", nil, 200, "", 1},
		{"POST, hang-up after sending: not retried", "hangup", http.MethodPost, "order", nil, 502, "", 1},
		{"POST with Idempotency-Key, hang-up: retried", "hangup", http.MethodPost, "order", http.Header{"Idempotency-Key": {"k1"}}, 200, "z POST order", 1},
		{"POST too big to replay, connection refused: not retried", "dead", http.MethodPost, big, nil, 502, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := docker.NewProxy(docker.ProxyConfig{Name: "shop/api", MaxReplayBody: 64})
			var hangups atomic.Int32
			first := deadBackend(t)
			if tt.first == "hangup" {
				first = hangupBackend(t, &hangups)
			}
			// Backends go round in ID order, so "a" is tried first.
			p.SetBackends(map[string]*url.URL{"a": first, "z": namedBackend(t, "z")})
			code, body := do(t, p, tt.method, tt.body, tt.header)
			if code != tt.wantCode {
				t.Errorf("status %d, want %d (body %q)", code, tt.wantCode, body)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if got := int(hangups.Load()); got != tt.wantTries {
				t.Errorf("hang-up backend saw %d requests, want %d", got, tt.wantTries)
			}
			if n := p.InFlight("a") + p.InFlight("z"); n != 0 {
				t.Errorf("%d requests still counted in flight", n)
			}
		})
	}
}

// TestProxyDrain: Drain takes a backend out at once and returns only when
// its in-flight request has been answered.
func TestProxyDrain(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "slow done")
	}))
	defer slow.Close()

	p := docker.NewProxy(docker.ProxyConfig{})
	p.Set("slow", mustURL(t, slow.URL))
	front := httptest.NewServer(p)
	defer front.Close()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(front.URL)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-arrived
	if n := p.InFlight("slow"); n != 1 {
		t.Fatalf("InFlight = %d, want 1", n)
	}

	expired, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Drain(expired, "slow"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain with a request in flight and a done context = %v, want context.Canceled", err)
	}
	if b := p.Backends(); len(b) != 0 {
		t.Errorf("while draining, Backends() = %v, want none", b)
	}
	if code, _ := do(t, p, http.MethodGet, "", nil); code != http.StatusServiceUnavailable {
		t.Errorf("new request while draining: status %d, want 503", code)
	}

	drained := make(chan error, 1)
	go func() { drained <- p.Drain(context.Background(), "slow") }()
	close(release)
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	r := <-got
	if r.err != nil || r.body != "slow done" {
		t.Errorf("in-flight request: %q, %v; want %q", r.body, r.err, "slow done")
	}
	if err := p.Drain(context.Background(), "unknown"); err != nil {
		t.Errorf("Drain of an unknown backend: %v", err)
	}
}

// TestProxyDrainRace drains backends while requests run; no request fails
// and every Drain returns.
func TestProxyDrainRace(t *testing.T) {
	p := docker.NewProxy(docker.ProxyConfig{})
	for i := range 4 {
		p.Set(fmt.Sprint(i), namedBackend(t, fmt.Sprint(i)))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if code, body := do(t, p, http.MethodGet, "", nil); code != http.StatusOK {
					errs <- fmt.Sprintf("%d %s", code, body)
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 3 {
		if err := p.Drain(ctx, fmt.Sprint(i)); err != nil {
			t.Errorf("Drain %d: %v", i, err)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("failed request: %s", e)
	}
	if got := strings.Join(p.Backends(), ","); got != "3" {
		t.Errorf("Backends() = %s, want 3", got)
	}
}
