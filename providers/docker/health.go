package docker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

// Health check defaults, used for zero fields of HealthConfig.
const (
	DefaultHealthInterval      = time.Second
	DefaultHealthTimeout       = 2 * time.Second
	DefaultHealthyThreshold    = 2
	DefaultUnhealthyThreshold  = 3
	DefaultHealthStartDeadline = 60 * time.Second
)

// HealthConfig says how a Cluster checks its instances: an HTTP GET of the
// instance's health path every Interval, passing on a 2xx or 3xx answer
// within the timeout. The zero value uses the defaults above.
//
// An instance starts as starting and takes traffic only once it has passed
// HealthyThreshold checks in a row. A healthy instance that fails
// UnhealthyThreshold checks in a row becomes unhealthy and leaves the proxy;
// so does a starting one that has not become healthy StartDeadline after its
// checks began. An unhealthy instance is still checked and comes back after
// HealthyThreshold passes in a row, so a brief outage of a dependency does
// not empty the proxy for good; the controller replaces unhealthy instances
// anyway.
//
// Health is held in memory only. A restarted controller checks each running
// container it finds once at once: one that passes was serving before the
// restart and is healthy again straight away; one that fails starts as
// starting, with a new StartDeadline, until it passes HealthyThreshold
// checks.
type HealthConfig struct {
	Interval           time.Duration // between checks of one instance
	Timeout            time.Duration // per check, when the InstanceSpec sets no HealthTimeout
	HealthyThreshold   int           // passes in a row to become healthy
	UnhealthyThreshold int           // failures in a row for a healthy instance to become unhealthy
	StartDeadline      time.Duration // how long a starting instance has to become healthy
}

func (h HealthConfig) withDefaults() HealthConfig {
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.HealthyThreshold <= 0 {
		h.HealthyThreshold = DefaultHealthyThreshold
	}
	if h.UnhealthyThreshold <= 0 {
		h.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	if h.StartDeadline <= 0 {
		h.StartDeadline = DefaultHealthStartDeadline
	}
	return h
}

// healthState is the health of one instance as a pure state machine: it is
// fed check results with the time they were taken and answers the state.
type healthState struct {
	cfg    HealthConfig
	since  time.Time // when checking began
	state  providers.InstanceState
	passes int // in a row
	fails  int // in a row
}

func newHealthState(cfg HealthConfig, since time.Time) *healthState {
	return &healthState{cfg: cfg.withDefaults(), since: since, state: providers.InstanceStarting}
}

// observe records one check result taken at now and returns the new state.
func (h *healthState) observe(pass bool, now time.Time) providers.InstanceState {
	if pass {
		h.passes, h.fails = h.passes+1, 0
		if h.passes >= h.cfg.HealthyThreshold {
			h.state = providers.InstanceHealthy
		}
	} else {
		h.passes, h.fails = 0, h.fails+1
		if h.state == providers.InstanceHealthy && h.fails >= h.cfg.UnhealthyThreshold {
			h.state = providers.InstanceUnhealthy
		}
	}
	if h.state == providers.InstanceStarting && now.Sub(h.since) >= h.cfg.StartDeadline {
		h.state = providers.InstanceUnhealthy
	}
	return h.state
}

// prober runs single health checks.
type prober struct {
	client *http.Client
}

func newProber() *prober {
	return &prober{client: &http.Client{
		// A fresh connection per check: a check must prove the instance
		// accepts connections, and no idle connections to stopped
		// containers pile up.
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		// A redirect is an answer; following it could leave the instance.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// check GETs url and returns nil if it answered 2xx or 3xx within timeout.
func (p *prober) check(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "mainline-health-check")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return nil
}
