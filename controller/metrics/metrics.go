// Package metrics is Mainline's Prometheus instrumentation: one Metrics
// value, registered on a registry the caller owns (never the global one),
// that the controller (controller.Metrics), the webhook receiver
// (webhooks.Metrics) and dependents day (DependencyPR) report to.
//
// Every label comes from a small fixed set — stage names, results,
// provider methods, event kinds, rejection codes — never from request
// input, so a hostile sender cannot grow the series.
//
// cmd/mainline creates it and serves the registry at /metrics; the
// package imports only the Prometheus client and providers' errors.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mainline-cd/mainline/providers"
)

// Metrics holds Mainline's collectors. Its methods are safe for
// concurrent use.
type Metrics struct {
	webhooksReceived *prometheus.CounterVec
	webhooksRejected *prometheus.CounterVec
	stageDuration    *prometheus.HistogramVec
	stageErrors      *prometheus.CounterVec
	providerDuration *prometheus.HistogramVec
	providerErrors   *prometheus.CounterVec
	deploys          *prometheus.CounterVec
	rollbacks        prometheus.Counter
	verifications    *prometheus.CounterVec
	dependencyPRs    *prometheus.CounterVec
	events           *prometheus.CounterVec
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		webhooksReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mainline_webhooks_received_total",
			Help: "Authentic webhook deliveries, by what became of them (accepted, ignored, duplicate, unavailable).",
		}, []string{"result"}),
		webhooksRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mainline_webhooks_rejected_total",
			Help: "Webhook requests refused, by reason (bad_signature, body_too_large, …).",
		}, []string{"reason"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mainline_reconcile_stage_duration_seconds",
			Help:    "How long each reconcile stage ran, by stage and result.",
			Buckets: []float64{.001, .005, .025, .1, .5, 1, 5, 30, 120, 600},
		}, []string{"stage", "result"}),
		stageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mainline_reconcile_stage_errors_total",
			Help: "Reconcile stages that ended in an error or stalled, by stage.",
		}, []string{"stage"}),
		providerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mainline_provider_call_duration_seconds",
			Help:    "Latency of calls to outside systems, by provider method (Cluster.Start, SCM.Tags, …).",
			Buckets: []float64{.005, .025, .1, .25, 1, 2.5, 10, 30, 60, 300},
		}, []string{"method"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mainline_provider_call_errors_total",
			Help: "Failed calls to outside systems, by method and kind (unavailable, not_found, exists, canceled, other).",
		}, []string{"method", "kind"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mainline_deploys_total",
			Help: "Changes of a build's desired version, by cause (tag, pin, rollback, user).",
		}, []string{"cause"}),
		rollbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mainline_rollbacks_total",
			Help: "Versions rolled back (failed health checks, rollout or verification).",
		}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mainline_verifications_total",
			Help: "Verification runs, by trigger (rollout, schedule) and outcome (passed, failed, error).",
		}, []string{"trigger", "outcome"}),
		dependencyPRs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mainline_dependency_prs_total",
			Help: "Dependency upgrade pull requests, by outcome (opened, updated, merged, red, closed).",
		}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mainline_events_total",
			Help: "Events written to project timelines, by kind.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.webhooksReceived, m.webhooksRejected, m.stageDuration, m.stageErrors,
		m.providerDuration, m.providerErrors, m.deploys, m.rollbacks, m.verifications, m.dependencyPRs, m.events} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// WebhookReceived counts an authentic delivery by what became of it.
func (m *Metrics) WebhookReceived(result string) { m.webhooksReceived.WithLabelValues(result).Inc() }

// WebhookRejected counts a refused webhook request by its error code.
func (m *Metrics) WebhookRejected(reason string) { m.webhooksRejected.WithLabelValues(reason).Inc() }

// StageFinished records one stage's run.
func (m *Metrics) StageFinished(stage, result string, d time.Duration) {
	m.stageDuration.WithLabelValues(stage, result).Observe(d.Seconds())
	if result == "error" || result == "stalled" {
		m.stageErrors.WithLabelValues(stage).Inc()
	}
}

// ProviderCall records one call to an outside system.
func (m *Metrics) ProviderCall(method string, d time.Duration, err error) {
	m.providerDuration.WithLabelValues(method).Observe(d.Seconds())
	if err != nil {
		m.providerErrors.WithLabelValues(method, errorKind(err)).Inc()
	}
}

func errorKind(err error) string {
	switch {
	case errors.Is(err, providers.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "unavailable"
	case errors.Is(err, providers.ErrNotFound):
		return "not_found"
	case errors.Is(err, providers.ErrExists):
		return "exists"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}

// DesiredChanged counts a deploy: a build's desired version changed.
func (m *Metrics) DesiredChanged(cause string) { m.deploys.WithLabelValues(cause).Inc() }

// Verified counts a finished verification run.
func (m *Metrics) Verified(trigger, outcome string) {
	m.verifications.WithLabelValues(trigger, outcome).Inc()
}

// Event counts a timeline event; a "rolled_back" one is a rollback.
func (m *Metrics) Event(kind string) {
	m.events.WithLabelValues(kind).Inc()
	if kind == "rolled_back" {
		m.rollbacks.Inc()
	}
}

// DependencyPR counts what dependents day did with an upgrade pull
// request: "opened", "updated", "merged", "red" or "closed".
func (m *Metrics) DependencyPR(outcome string) { m.dependencyPRs.WithLabelValues(outcome).Inc() }
