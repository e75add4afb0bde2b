package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/time/rate"

	"github.com/mainline-cd/mainline/controller/metrics"
	"github.com/mainline-cd/mainline/webhooks"
)

// Request limits. Webhooks come in bursts (a merge train, a re-delivery of
// many at once), from a few GitHub addresses, and GitHub does not retry a
// refused delivery by itself, so their bucket is the larger; a lost one
// still costs only time, since the resync finds the new commit anyway.
const (
	webhookRate, webhookBurst = 20, 200
	apiRate, apiBurst         = 10, 60

	// maxRequestBody caps every request body but a webhook's (the
	// dashboard's forms and the API's JSON actions are small).
	maxRequestBody = 1 << 20
	// rateIdle is how long a client's bucket is kept after its last
	// request; maxRateClients bounds how many are kept at once.
	rateIdle       = 10 * time.Minute
	maxRateClients = 100_000
)

// limits are the per-client rate limits of the HTTP routes. A nil *limits
// limits nothing.
type limits struct {
	webhooks, api *rateLimiter
}

func defaultLimits() *limits {
	return &limits{
		webhooks: newRateLimiter(webhookRate, webhookBurst, time.Now),
		api:      newRateLimiter(apiRate, apiBurst, time.Now),
	}
}

func (l *limits) webhook(h http.Handler) http.Handler {
	if l == nil {
		return h
	}
	return l.webhooks.wrap(h)
}

func (l *limits) apiRoutes(h http.Handler) http.Handler {
	if l == nil {
		return h
	}
	return l.api.wrap(h)
}

// rateLimiter is a token bucket per client IP address (the connection's
// remote address: X-Forwarded-For is the client's word, so behind a
// reverse proxy every client shares the proxy's bucket). Buckets idle for
// rateIdle are dropped; past maxRateClients, new clients share one bucket.
type rateLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	clients map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(perSecond float64, burst int, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, now: now, clients: map[string]*bucket{}}
}

// allow takes a token from client's bucket, or says how long until there
// is one.
func (l *rateLimiter) allow(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.clients {
			if now.Sub(b.seen) > rateIdle {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	b, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxRateClients {
			client = "" // the overflow bucket
			b = l.clients[client]
		}
		if b == nil {
			b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
			l.clients[client] = b
		}
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// wrap answers 429 Too Many Requests, with Retry-After in whole seconds,
// to a client over its rate, before h sees the request.
func (l *rateLimiter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := l.allow(clientIP(r))
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusTooManyRequests)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "too many requests; retry later", "code": "rate_limited"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limitBodies caps the body of every request: a webhook's at what the
// receiver accepts (it reads no more itself), any other at maxRequestBody.
// A body declared too large is refused before it is read.
func limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxRequestBody)
		if strings.HasPrefix(r.URL.Path, "/webhooks/") {
			limit = webhooks.DefaultMaxBodyBytes
		}
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body over the limit of %d bytes", limit), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

// instrument creates the server's Prometheus registry with the Go and
// process collectors, the queue depth and Mainline's own metrics, hands
// the metrics to the controller and the webhook receiver, and sets the
// default rate limits. newServer calls it once, before routes.
func (srv *server) instrument() error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mainline_queue_depth",
		Help: "Projects waiting for a reconcile worker.",
	}, func() float64 { return float64(srv.controller.QueueDepth()) }))
	m, err := metrics.New(reg)
	if err != nil {
		return err
	}
	srv.controller.Metrics = m
	srv.webhooks.Metrics = m
	srv.registry = reg
	srv.limits = defaultLimits()
	return nil
}
