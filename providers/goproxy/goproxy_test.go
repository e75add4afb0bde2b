package goproxy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/goproxy"
)

// proxyServer is a module proxy answering from a table of paths; it counts
// requests and can hold answers until released.
type proxyServer struct {
	*httptest.Server
	files    map[string]string // URL path → body; others are 404
	status   int               // when set, every answer has this status
	hits     atomic.Int64
	mu       sync.Mutex
	gate     chan struct{} // when set, answers wait for it
	received chan struct{}
}

func newProxy(t *testing.T, files map[string]string) *proxyServer {
	t.Helper()
	p := &proxyServer{files: files, received: make(chan struct{}, 100)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.received <- struct{}{}
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if p.status != 0 {
			http.Error(w, "proxy trouble", p.status)
			return
		}
		body, ok := p.files[r.URL.Path]
		if !ok {
			http.Error(w, "not found: "+r.URL.Path, http.StatusNotFound)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(p.Close)
	return p
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestVersions(t *testing.T) {
	px := newProxy(t, map[string]string{
		"/github.com/!azure/go-ansiterm/@v/list": "v0.2.0\nv0.1.0\nnot-a-version\nv0.3.0-rc.1 extra fields\n",
		"/example.com/pseudo/@v/list":            "",
		"/example.com/pseudo/@latest":            `{"Version":"v0.0.0-20240101000000-abcdefabcdef","Time":"2024-01-01T00:00:00Z"}`,
		"/example.com/m/v2/@v/list":              "v2.0.0\nv2.1.0\n",
	})
	ix, err := goproxy.New(goproxy.Config{Proxy: px.URL})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		want    []string
		wantErr error
	}{
		{"github.com/Azure/go-ansiterm", []string{"v0.1.0", "v0.2.0", "v0.3.0-rc.1"}, nil},
		{"example.com/pseudo", []string{"v0.0.0-20240101000000-abcdefabcdef"}, nil},
		{"example.com/m/v2", []string{"v2.0.0", "v2.1.0"}, nil},
		{"example.com/m/v3", nil, providers.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ix.Versions(context.Background(), tt.path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Versions(%s) error = %v, want %v", tt.path, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Versions(%s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestPublished(t *testing.T) {
	px := newProxy(t, map[string]string{
		"/example.com/!m/@v/v1.0.0.info":      `{"Version":"v1.0.0","Time":"2024-03-01T10:00:00Z"}`,
		"/example.com/!m/@v/v1.1.0-!r!c.info": `{"Version":"v1.1.0-RC","Time":"2024-04-01T10:00:00Z"}`,
	})
	ix, _ := goproxy.New(goproxy.Config{Proxy: px.URL})
	for _, tt := range []struct{ version, want string }{
		{"v1.0.0", "2024-03-01T10:00:00Z"},
		{"v1.1.0-RC", "2024-04-01T10:00:00Z"},
	} {
		got, err := ix.Published(context.Background(), "example.com/M", tt.version)
		if err != nil {
			t.Fatalf("Published(%s): %v", tt.version, err)
		}
		if got.Format(time.RFC3339) != tt.want {
			t.Errorf("Published(%s) = %s, want %s", tt.version, got.Format(time.RFC3339), tt.want)
		}
	}
}

func TestProxyList(t *testing.T) {
	good := newProxy(t, map[string]string{"/example.com/m/@v/list": "v1.0.0\n"})
	empty := newProxy(t, map[string]string{})
	broken := newProxy(t, nil)
	broken.status = http.StatusInternalServerError
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "example.com", "m", "@v"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "example.com", "m", "@v", "list"), []byte("v1.2.0\n"), 0o644)

	tests := []struct {
		name    string
		proxy   string
		want    []string
		wantErr string // substring
		is      error
	}{
		{"comma falls through on 404", empty.URL + "," + good.URL, []string{"v1.0.0"}, "", nil},
		{"comma stops on other errors", broken.URL + "," + good.URL, nil, "500", nil},
		{"pipe falls through on any error", broken.URL + "|" + good.URL, []string{"v1.0.0"}, "", nil},
		{"direct is skipped", "direct," + good.URL, []string{"v1.0.0"}, "", nil},
		{"only direct", "direct", nil, "never uses direct", providers.ErrNotFound},
		{"off", empty.URL + ",off," + good.URL, nil, "", goproxy.ErrDisabled},
		{"file proxies", "file://" + filepath.ToSlash(dir), []string{"v1.2.0"}, "", nil},
		{"not found anywhere", empty.URL, nil, "", providers.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := goproxy.New(goproxy.Config{Proxy: tt.proxy})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ix.Versions(context.Background(), "example.com/m")
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error = %v, want one wrapping %v", err, tt.is)
			}
			if tt.wantErr == "" && tt.is == nil && err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Versions = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := goproxy.New(goproxy.Config{Proxy: "ftp://x"}); err == nil {
		t.Error("New accepted an ftp:// proxy")
	}
}

func TestPrivateModules(t *testing.T) {
	public := newProxy(t, map[string]string{"/corp.example/lib/@v/list": "v9.9.9\n", "/example.com/m/@v/list": "v1.0.0\n"})
	private := newProxy(t, map[string]string{"/corp.example/lib/@v/list": "v1.0.0\n"})
	t.Run("skipped without a private proxy", func(t *testing.T) {
		ix, _ := goproxy.New(goproxy.Config{Proxy: public.URL, Private: "corp.example/*,*.internal"})
		before := public.hits.Load()
		_, err := ix.Versions(context.Background(), "corp.example/lib")
		if !errors.Is(err, goproxy.ErrPrivate) || !strings.Contains(err.Error(), "corp.example/lib") {
			t.Errorf("error = %v, want ErrPrivate naming the module", err)
		}
		if public.hits.Load() != before {
			t.Error("a private module was asked of the public proxy")
		}
		if got, err := ix.Versions(context.Background(), "example.com/m"); err != nil || !slices.Equal(got, []string{"v1.0.0"}) {
			t.Errorf("public module: %q, %v", got, err)
		}
	})
	t.Run("through the private proxy", func(t *testing.T) {
		ix, _ := goproxy.New(goproxy.Config{Proxy: public.URL, Private: "corp.example", PrivateProxy: private.URL})
		got, err := ix.Versions(context.Background(), "corp.example/lib")
		if err != nil || !slices.Equal(got, []string{"v1.0.0"}) {
			t.Errorf("Versions = %q, %v; want the private proxy's v1.0.0", got, err)
		}
	})
	t.Run("GONOPROXY wins over GOPRIVATE", func(t *testing.T) {
		ix, _ := goproxy.New(goproxy.Config{Proxy: public.URL, Private: "corp.example", NoProxy: "none.example"})
		got, err := ix.Versions(context.Background(), "corp.example/lib")
		if err != nil || !slices.Equal(got, []string{"v9.9.9"}) {
			t.Errorf("Versions = %q, %v; want the public proxy's answer", got, err)
		}
	})
}

// TestCacheSharesLookups: many callers asking for one module at once cost
// one request, later callers are answered from the cache until the TTL
// passes, and Forget drops the entry.
func TestCacheSharesLookups(t *testing.T) {
	px := newProxy(t, map[string]string{"/example.com/m/@v/list": "v1.0.0\n"})
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	ix, _ := goproxy.New(goproxy.Config{Proxy: px.URL, TTL: time.Minute, Clock: clock})

	gate := make(chan struct{})
	px.mu.Lock()
	px.gate = gate
	px.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ix.Versions(context.Background(), "example.com/m"); err != nil {
				errs <- err
			}
		}()
	}
	<-px.received // the one request is in flight; let the callers pile up on it
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := px.hits.Load(); got != 1 {
		t.Errorf("50 concurrent lookups made %d requests, want 1", got)
	}
	ix.Versions(context.Background(), "example.com/m")
	if got := px.hits.Load(); got != 1 {
		t.Errorf("a cached lookup made a request (total %d)", got)
	}
	clock.advance(2 * time.Minute)
	ix.Versions(context.Background(), "example.com/m")
	if got := px.hits.Load(); got != 2 {
		t.Errorf("after the TTL, requests = %d, want 2", got)
	}
	ix.Forget("example.com/m")
	ix.Versions(context.Background(), "example.com/m")
	if got := px.hits.Load(); got != 3 {
		t.Errorf("after Forget, requests = %d, want 3", got)
	}
}

func TestCallerCancellation(t *testing.T) {
	px := newProxy(t, map[string]string{"/example.com/m/@v/list": "v1.0.0\n"})
	gate := make(chan struct{})
	px.gate = gate
	ix, _ := goproxy.New(goproxy.Config{Proxy: px.URL})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := ix.Versions(ctx, "example.com/m")
		done <- err
	}()
	<-px.received
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller got %v, want context.Canceled", err)
	}
	close(gate)
	// Another caller still gets the answer of the shared request.
	if got, err := ix.Versions(context.Background(), "example.com/m"); err != nil || !slices.Equal(got, []string{"v1.0.0"}) {
		t.Errorf("Versions after a cancelled caller = %q, %v", got, err)
	}
}

func TestErrorsHidePasswords(t *testing.T) {
	broken := newProxy(t, nil)
	broken.status = http.StatusBadGateway
	u := strings.Replace(broken.URL, "http://", "http://user:s3cret@", 1)
	ix, err := goproxy.New(goproxy.Config{Proxy: u})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ix.Versions(context.Background(), "example.com/m")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %v; want an error without the password", err)
	}
}
