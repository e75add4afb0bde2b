package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/metrics"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/webhooks"
)

var (
	_ controller.Metrics = (*metrics.Metrics)(nil)
	_ webhooks.Metrics   = (*metrics.Metrics)(nil)
)

// TestRecorded: each report lands in its series with the labels it was
// given; provider errors are sorted by kind.
func TestRecorded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.WebhookReceived("accepted")
	m.WebhookReceived("accepted")
	m.WebhookRejected("bad_signature")
	m.StageFinished("scale", "progress", time.Second)
	m.StageFinished("sync", "error", time.Millisecond)
	m.StageFinished("sync", "stalled", time.Millisecond)
	m.ProviderCall("Cluster.Start", time.Second, nil)
	m.ProviderCall("Cluster.Start", time.Second, fmt.Errorf("x: %w", providers.ErrUnavailable))
	m.ProviderCall("Registry.Digest", time.Second, fmt.Errorf("x: %w", providers.ErrNotFound))
	m.ProviderCall("SCM.Tags", time.Second, context.DeadlineExceeded)
	m.ProviderCall("SCM.Tags", time.Second, errors.New("boom"))
	m.DesiredChanged("tag")
	m.DesiredChanged("rollback")
	m.Verified("rollout", "passed")
	m.Event("rolled_back")
	m.Event("tagged")
	m.DependencyPR("merged")

	want := map[string]float64{
		`mainline_deploys_total{cause="rollback"}`:                                       1,
		`mainline_deploys_total{cause="tag"}`:                                            1,
		`mainline_dependency_prs_total{outcome="merged"}`:                                1,
		`mainline_provider_call_errors_total{kind="not_found",method="Registry.Digest"}`: 1,
		`mainline_provider_call_errors_total{kind="other",method="SCM.Tags"}`:            1,
		`mainline_provider_call_errors_total{kind="unavailable",method="Cluster.Start"}`: 1,
		`mainline_provider_call_errors_total{kind="unavailable",method="SCM.Tags"}`:      1,
		`mainline_reconcile_stage_errors_total{stage="sync"}`:                            2,
		`mainline_rollbacks_total{}`:                                                     1,
		`mainline_verifications_total{outcome="passed",trigger="rollout"}`:               1,
		`mainline_webhooks_received_total{result="accepted"}`:                            2,
		`mainline_webhooks_rejected_total{reason="bad_signature"}`:                       1,
		`mainline_events_total{kind="rolled_back"}`:                                      1,
		`mainline_events_total{kind="tagged"}`:                                           1,
		`mainline_provider_call_duration_seconds{method="Cluster.Start"}`:                2,
		`mainline_provider_call_duration_seconds{method="Registry.Digest"}`:              1,
		`mainline_provider_call_duration_seconds{method="SCM.Tags"}`:                     2,
		`mainline_reconcile_stage_duration_seconds{result="error",stage="sync"}`:         1,
		`mainline_reconcile_stage_duration_seconds{result="progress",stage="scale"}`:     1,
		`mainline_reconcile_stage_duration_seconds{result="stalled",stage="sync"}`:       1,
	}
	got := series(t, reg)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s = %v", k, got[k])
		}
	}
}

// TestWebhookHandlerCounts: the real receiver reports rejections by code
// and never labels a series with what the sender chose.
func TestWebhookHandlerCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := &webhooks.Handler{Secrets: [][]byte{[]byte("s3cret")}, Metrics: m}
	for _, event := range []string{"push", "evil\"}label", strings.Repeat("x", 500)} {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader([]byte(`{}`)))
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-Hub-Signature-256", "sha256=00")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/webhooks/github", nil))
	got := series(t, reg)
	if got := got[`mainline_webhooks_rejected_total{reason="bad_signature"}`]; got != 3 {
		t.Errorf("bad_signature rejections = %v, want 3", got)
	}
	if got := got[`mainline_webhooks_rejected_total{reason="method_not_allowed"}`]; got != 1 {
		t.Errorf("method_not_allowed rejections = %v, want 1", got)
	}
	delete(got, "mainline_rollbacks_total{}") // always there, unlabelled
	if len(got) != 2 {
		t.Errorf("series = %v, want only the two rejection counters", got)
	}
}

func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg); err == nil {
		t.Error("registering twice on one registry: no error")
	}
}

// series gathers reg into "name{label="value",…}" → value: a counter's
// value, or a histogram's sample count.
func series(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
