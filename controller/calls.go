package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/intercept"
)

// Timeouts bound the provider calls a stage makes, so a provider that
// hangs (a stuck TCP connection, an engine that never answers) frees its
// worker after a while instead of holding it forever. A call that runs out
// of time fails with an error wrapping providers.ErrUnavailable and the
// project is retried with back-off, like any other error. Zero fields take
// the defaults.
type Timeouts struct {
	// SCM bounds each call to a repository (default 30 s). SCM.Archive
	// runs inside a build and is bounded by the build instead.
	SCM time.Duration
	// Registry bounds each registry lookup (default 30 s).
	Registry time.Duration
	// Cluster bounds each cluster call (default 60 s).
	Cluster time.Duration
	// Notifier bounds each notification (default 30 s).
	Notifier time.Duration
	// Build is how long a build may go on past its own timeout
	// (BuildSpec.Timeout, which the builder enforces) before the
	// controller gives up on it (default 15 min: more than a builder's
	// own default, so a slow build fails as a build, not as a hang).
	Build time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.SCM, 30*time.Second)
	def(&t.Registry, 30*time.Second)
	def(&t.Cluster, 60*time.Second)
	def(&t.Notifier, 30*time.Second)
	def(&t.Build, 15*time.Minute)
	return t
}

// forCall is the deadline of one call; 0 means the call sets its own.
func (t Timeouts) forCall(method string) time.Duration {
	switch iface, _, _ := strings.Cut(method, "."); {
	case method == "SCM.Archive", iface == "Builder":
		return 0
	case iface == "SCM":
		return t.SCM
	case iface == "Registry":
		return t.Registry
	case iface == "Cluster":
		return t.Cluster
	case iface == "Notifier":
		return t.Notifier
	}
	return 0
}

// Metrics is told what the controller does, for monitoring (Prometheus in
// cmd/mainline). Labels it is given come from a small fixed set: stage
// names, results, provider methods, event kinds. Implementations must be
// safe for concurrent use and quick.
type Metrics interface {
	// StageFinished: one stage of one project ran for d and ended with
	// result ("ready", "progress", "waiting", "error", "stalled").
	StageFinished(stage, result string, d time.Duration)
	// ProviderCall: one provider call ("Cluster.Start") took d and
	// returned err.
	ProviderCall(method string, d time.Duration, err error)
	// DesiredChanged: a build's desired version changed; cause is
	// "tag", "pin" or "rollback".
	DesiredChanged(cause string)
	// Verified: a verification run ended; trigger is TriggerRollout,
	// TriggerSchedule or TriggerUser (a re-run someone asked for), outcome
	// "passed", "failed" or "error".
	Verified(trigger, outcome string)
	// Event: an event of kind was written to a project's timeline
	// ("rolled_back", "build_failed", …).
	Event(kind string)
}

type noMetrics struct{}

func (noMetrics) StageFinished(string, string, time.Duration) {}
func (noMetrics) ProviderCall(string, time.Duration, error)   {}
func (noMetrics) DesiredChanged(string)                       {}
func (noMetrics) Verified(string, string)                     {}
func (noMetrics) Event(string)                                {}
func resultOf(out Outcome, err error) string {
	switch {
	case IsStalled(err):
		return "stalled"
	case err != nil:
		return "error"
	}
	return out.Result.String()
}

// causeOf turns a desired state's set_by ("tag 0.3.15", "rollback",
// "pin 0.3.1", "user:alice") into a metric label.
func causeOf(setBy string) string {
	cause, _, _ := strings.Cut(setBy, " ")
	cause, _, _ = strings.Cut(cause, ":")
	switch cause {
	case "tag", "pin", "rollback", "user":
		return cause
	}
	return "other"
}

// wrapProviders puts every provider behind the controller's call
// interceptor (timeouts and metrics). init calls it once.
func (c *Controller) wrapProviders() {
	i := intercept.Func(c.interceptCall)
	p := &c.Providers
	if open := p.SCM; open != nil {
		p.SCM = func(ctx context.Context, proj store.Project) (providers.SCM, error) {
			s, err := open(ctx, proj)
			if err != nil {
				return nil, err
			}
			return intercept.SCM(s, proj.Name, i), nil
		}
	}
	p.Builder = intercept.Builder(p.Builder, i)
	p.Registry = intercept.Registry(p.Registry, i)
	p.Cluster = intercept.Cluster(p.Cluster, i)
	p.Notifier = intercept.Notifier(p.Notifier, i)
}

// interceptCall gives a provider call its deadline and records how it
// went. When the deadline, not the caller, ends the call, the error says
// so and wraps providers.ErrUnavailable: a retry may work.
func (c *Controller) interceptCall(ctx context.Context, call intercept.Call, next func(context.Context) error) error {
	start := c.Clock.Now()
	d := c.Timeouts.forCall(call.Method)
	var err error
	if d <= 0 {
		err = next(ctx)
	} else {
		cctx, cancel := context.WithTimeout(ctx, d)
		err = next(cctx)
		if err != nil && ctx.Err() == nil && cctx.Err() != nil {
			err = fmt.Errorf("no answer within %s (%w): %w", d, providers.ErrUnavailable, err)
		}
		cancel()
	}
	c.Metrics.ProviderCall(call.Method, c.Clock.Now().Sub(start), err)
	return err
}
