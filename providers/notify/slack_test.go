package notify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/notify"
)

func TestSlackPayloads(t *testing.T) {
	tests := []struct {
		golden string
		n      func() providers.Notification
	}{
		{"slack_deploy_started", func() providers.Notification { return note("deploy_started", "") }},
		{"slack_deploy_finished", func() providers.Notification {
			return note("deploy_finished", "orders 0.0.2 is live and verified")
		}},
		{"slack_rolled_back", func() providers.Notification {
			return note("rolled_back", "orders 0.0.2 rolled back: step 'create order' failed: $.status = \"closed\", want <open> & more\nsecond line")
		}},
		{"slack_verify_failed", func() providers.Notification { return note("verify_failed", "") }},
		{"slack_dependency_pr_red", func() providers.Notification {
			n := note("dependency_pr_red", "")
			n.Version, n.SHA, n.EnvironmentURL = "", "", ""
			n.URL = "" // falls back to DashboardURL
			return n
		}},
		{"slack_other", func() providers.Notification { return note("build_failed", "") }},
		{"slack_long", func() providers.Notification { return note("verify_failed", strings.Repeat("x", 400)) }},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			rc := newReceiver(t)
			s := &notify.Slack{WebhookURL: rc.URL + "/services/T0/B0/secret", DashboardURL: "http://127.0.0.1:8080"}
			if err := s.Notify(context.Background(), tt.n()); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			reqs := rc.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/services/T0/B0/secret" {
				t.Errorf("got %s %s, want POST /services/T0/B0/secret", r.Method, r.Path)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if !json.Valid(r.Body) {
				t.Errorf("body is not JSON: %s", r.Body)
			}
			golden(t, tt.golden, r.Body)
		})
	}
}

// TestSlackErrorsHideURL: the webhook URL's path is Slack's credential.
func TestSlackErrorsHideURL(t *testing.T) {
	rc := newReceiver(t)
	rc.failNext(http.StatusNotFound)
	s := &notify.Slack{WebhookURL: rc.URL + "/services/T0/B0/s3cr3t"}
	err := s.Notify(context.Background(), note("deploy_finished", "live"))
	if err == nil {
		t.Fatal("Notify to a 404 receiver succeeded")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error shows the webhook URL: %v", err)
	}
	if !strings.Contains(err.Error(), "HTTP 404: no_service") {
		t.Errorf("error %q does not give the status and Slack's answer", err)
	}

	// A receiver that is gone: the transport's error names the URL too.
	gone := &notify.Slack{WebhookURL: "http://127.0.0.1:1/services/T0/B0/s3cr3t"}
	err = gone.Notify(context.Background(), note("deploy_finished", "live"))
	if err == nil {
		t.Fatal("Notify to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error shows the webhook URL: %v", err)
	}
}
