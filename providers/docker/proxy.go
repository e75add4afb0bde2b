package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultMaxReplayBody is how much of a request body a Proxy buffers so
// that it can send the request again to another instance.
const DefaultMaxReplayBody = 64 << 10

// ProxyConfig configures a Proxy. The zero value works.
type ProxyConfig struct {
	// Name names the service in the 503 answer and in logs, e.g. "shop/api".
	Name string
	// Logger receives proxy errors; nil discards them.
	Logger *slog.Logger
	// MaxReplayBody is the largest request body buffered for a retry;
	// requests with larger bodies are sent once. Default
	// DefaultMaxReplayBody; negative disables buffering.
	MaxReplayBody int64
}

// Proxy is a reverse proxy in front of the instances of one build. It sends
// each request to the next backend in round-robin order; when a backend
// cannot be reached it sends the request to another backend if that is safe
// (see ServeHTTP), so a backend going away loses no request. With no
// backend it answers 503.
//
// Backends are set from outside: a Cluster adds an instance once it is
// healthy and removes it when it is not, or before stopping it. A Proxy
// knows nothing of Docker, so a separate proxy process (`mainline proxy`)
// can run one and keep serving while the controller restarts.
//
// A Proxy is safe for concurrent use.
type Proxy struct {
	name     string
	log      *slog.Logger
	maxBody  int64
	rp       *httputil.ReverseProxy
	upstream *http.Transport

	mu     sync.Mutex
	active []*backend          // taking traffic, in ID order
	all    map[string]*backend // active ones and removed ones with requests in flight
	next   int                 // round-robin position in active
}

// backend is one instance behind the proxy.
type backend struct {
	id       string
	target   *url.URL
	inflight int           // requests sent and not yet finished; guarded by Proxy.mu
	removed  bool          // out of rotation, draining
	idle     chan struct{} // closed when a removed backend has no request in flight
}

var _ http.Handler = (*Proxy)(nil)

// errNoBackend means no backend was left to try.
var errNoBackend = errors.New("no healthy instance")

// NewProxy returns a Proxy with no backends.
func NewProxy(cfg ProxyConfig) *Proxy {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxBody := cfg.MaxReplayBody
	if maxBody == 0 {
		maxBody = DefaultMaxReplayBody
	}
	p := &Proxy{
		name:    cfg.Name,
		log:     log,
		maxBody: maxBody,
		all:     make(map[string]*backend),
		upstream: &http.Transport{
			Proxy:                 nil, // backends are on loopback; never via HTTP_PROXY
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The backend's scheme and host are chosen per attempt by
			// RoundTrip; the client's Host header is kept.
			pr.SetXForwarded()
		},
		Transport:    retryTransport{p},
		ErrorHandler: p.serveError,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return p
}

// ServeHTTP proxies r to a backend. A request is sent again to another
// backend after a failure if nothing was sent (the connection could not be
// made) or if it is idempotent by net/http's rules (GET, HEAD, OPTIONS,
// TRACE, or an Idempotency-Key header), and in both cases only if its body
// can be sent again: no body, or one of at most MaxReplayBody bytes, which
// is buffered for that. Each backend is tried at most once per request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := p.bufferBody(r); err != nil {
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// bufferBody makes a small request body replayable by setting GetBody.
func (p *Proxy) bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody != nil || p.maxBody < 0 || r.ContentLength > p.maxBody {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, p.maxBody+1))
	if err != nil {
		return err
	}
	if int64(len(buf)) > p.maxBody {
		// Longer than announced (chunked): stream it, sent once.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return nil
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return nil
}

func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNoBackend) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("503 service unavailable: no healthy instance of %s", p.nameOr("this service")), http.StatusServiceUnavailable)
		return
	}
	if r.Context().Err() == nil {
		p.log.Warn("proxy: request failed", "service", p.name, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	http.Error(w, fmt.Sprintf("502 bad gateway: %s did not answer", p.nameOr("the service")), http.StatusBadGateway)
}

func (p *Proxy) nameOr(s string) string {
	if p.name != "" {
		return p.name
	}
	return s
}

// Set adds backend id at target, or moves it to target, and puts it in
// rotation.
func (p *Proxy) Set(id string, target *url.URL) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(id, target)
}

func (p *Proxy) setLocked(id string, target *url.URL) {
	b := p.all[id]
	if b == nil {
		b = &backend{id: id}
		p.all[id] = b
	}
	b.target = target
	if b.removed || !slices.Contains(p.active, b) {
		b.removed = false
		p.active = append(p.active, b)
		slices.SortFunc(p.active, func(x, y *backend) int { return strings.Compare(x.id, y.id) })
	}
}

// Remove takes backend id out of rotation. Requests in flight to it go on;
// Drain waits for them.
func (p *Proxy) Remove(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(id)
}

func (p *Proxy) removeLocked(id string) {
	b := p.all[id]
	if b == nil {
		return
	}
	b.removed = true
	p.active = slices.DeleteFunc(p.active, func(x *backend) bool { return x == b })
	if b.inflight == 0 {
		p.forgetLocked(b)
	}
}

// forgetLocked drops a removed backend with nothing in flight and wakes its
// Drain callers.
func (p *Proxy) forgetLocked(b *backend) {
	if p.all[b.id] == b {
		delete(p.all, b.id)
	}
	if b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
}

// Drain takes backend id out of rotation and waits until the requests in
// flight to it have finished (their responses fully sent) or ctx is done.
// Draining an unknown backend returns at once.
func (p *Proxy) Drain(ctx context.Context, id string) error {
	p.mu.Lock()
	p.removeLocked(id)
	b := p.all[id]
	if b == nil {
		p.mu.Unlock()
		return nil
	}
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	idle, n := b.idle, b.inflight
	p.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain %s: %d requests still in flight: %w", id, n, ctx.Err())
	}
}

// SetBackends replaces the whole set of backends, id → target. Backends not
// in it are removed (not waited for).
func (p *Proxy) SetBackends(targets map[string]*url.URL) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range slices.Clone(p.active) {
		if _, ok := targets[b.id]; !ok {
			p.removeLocked(b.id)
		}
	}
	for id, t := range targets {
		p.setLocked(id, t)
	}
}

// Backends returns the IDs of the backends in rotation, sorted.
func (p *Proxy) Backends() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, len(p.active))
	for i, b := range p.active {
		ids[i] = b.id
	}
	return ids
}

// InFlight returns the number of requests in flight to backend id, counting
// until each response has been fully sent.
func (p *Proxy) InFlight(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.all[id]; b != nil {
		return b.inflight
	}
	return 0
}

// CloseIdleConnections closes the proxy's idle connections to backends.
func (p *Proxy) CloseIdleConnections() { p.upstream.CloseIdleConnections() }

// pick returns the next backend in rotation not in tried, counted as in
// flight, or nil.
func (p *Proxy) pick(tried []*backend) *backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.active)
	for i := range n {
		b := p.active[(p.next+i)%n]
		if slices.Contains(tried, b) {
			continue
		}
		p.next = (p.next + i + 1) % n
		b.inflight++
		return b
	}
	return nil
}

// done ends one request to b.
func (p *Proxy) done(b *backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b.inflight--
	if b.inflight == 0 && b.removed {
		p.forgetLocked(b)
	}
}

// retryTransport sends each request to a backend the Proxy picks, and to
// the next one after a failure when that is safe.
type retryTransport struct{ p *Proxy }

func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var tried []*backend
	var lastErr error
	for {
		b := t.p.pick(tried)
		if b == nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, errNoBackend
		}
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = b.target.Scheme, b.target.Host
		if len(tried) > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				t.p.done(b)
				return nil, err
			}
			out.Body = body
		}
		resp, err := t.p.upstream.RoundTrip(out)
		if err == nil {
			resp.Body = trackBody(resp.Body, func() { t.p.done(b) })
			return resp, nil
		}
		t.p.done(b)
		if !canRetry(req, err) {
			return nil, err
		}
		t.p.log.Debug("proxy: retrying on another instance", "service", t.p.name, "instance", b.id, "err", err)
		tried = append(tried, b)
		lastErr = err
	}
}

// canRetry reports whether req, which failed with err, may be sent again.
func canRetry(req *http.Request, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true // nothing was sent
	}
	return isIdempotent(req)
}

// isIdempotent follows net/http's rule for retrying requests.
func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// trackBody calls done once when body is closed. A body that is also a
// writer (a protocol switch) stays one, as httputil.ReverseProxy needs.
func trackBody(body io.ReadCloser, done func()) io.ReadCloser {
	var once sync.Once
	closer := closeFunc(func() error {
		err := body.Close()
		once.Do(done)
		return err
	})
	if rwc, ok := body.(io.ReadWriteCloser); ok {
		return struct {
			io.Reader
			io.Writer
			io.Closer
		}{rwc, rwc, closer}
	}
	return struct {
		io.Reader
		io.Closer
	}{body, closer}
}

type closeFunc func() error

func (f closeFunc) Close() error { return f() }
