package github

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Clock tells the time and waits; a fake one lets tests skip the waits.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// secondaryDefaultWait is how long to wait after a secondary rate limit that
// names no Retry-After: GitHub's documentation says at least a minute.
const secondaryDefaultWait = time.Minute

// minRetryWait keeps a server that answers "limited" with a reset time in
// the past from turning the retry loop into a busy loop.
const minRetryWait = time.Second

// rateLimitTransport waits out GitHub's rate limits and retries the request.
//
// It sits below go-github on purpose. go-github remembers a limit it has seen
// and fails later requests on its own, by the wall clock, until the reset; a
// retry above it would be refused without reaching the network, and a test
// could not use a fake clock. Below it, the wait is on our Clock, the retry
// is the same request, and go-github only sees the final answer: when the
// wait would exceed maxWait, the limited response itself, which go-github
// turns into *github.RateLimitError or *github.AbuseRateLimitError.
type rateLimitTransport struct {
	base    http.RoundTripper
	clock   Clock
	maxWait time.Duration
	log     *slog.Logger
}

func (t *rateLimitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var waited time.Duration
	for {
		resp, err := t.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		wait, kind, limited := rateLimitWait(resp, t.clock.Now())
		if !limited {
			return resp, nil
		}
		if waited+wait > t.maxWait || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			return resp, nil
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.log.WarnContext(req.Context(), "github rate limited; waiting", "limit", kind, "wait", wait, "method", req.Method, "path", req.URL.Path)
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-t.clock.After(wait):
		}
		waited += wait
		next := req.Clone(req.Context())
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			next.Body = body
		}
		req = next
	}
}

// rateLimitWait reports whether resp is a rate limit answer and how long to
// wait before trying again.
func rateLimitWait(resp *http.Response, now time.Time) (wait time.Duration, kind string, limited bool) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return 0, "", false
	}
	h := resp.Header
	if v := h.Get("Retry-After"); v != "" {
		secs, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			secs = int(secondaryDefaultWait / time.Second)
		}
		return max(time.Duration(secs)*time.Second, minRetryWait), "secondary", true
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		wait = secondaryDefaultWait
		if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			wait = time.Unix(reset, 0).Sub(now)
		}
		return max(wait, minRetryWait), "primary", true
	}
	// A secondary limit without Retry-After is told apart by its body.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err == nil && (bytes.Contains(body, []byte("secondary rate limit")) || bytes.Contains(body, []byte("secondary-rate-limits")) || bytes.Contains(body, []byte("abuse-rate-limits"))) {
		return secondaryDefaultWait, "secondary", true
	}
	return 0, "", false
}
