package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/providers/notify"
)

func TestWebhookPayload(t *testing.T) {
	rc := newReceiver(t)
	w := &notify.Webhook{URL: rc.URL + "/hooks/mainline", Secret: "hook-secret"}
	if err := w.Notify(context.Background(), note("rolled_back", "orders 0.0.2 rolled back: health check failed")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	golden(t, "webhook_rolled_back", r.Body)

	// The wire names, spelled out: receivers depend on them.
	for name, want := range map[string]string{
		"Content-Type":             "application/json",
		"User-Agent":               "Mainline-Notify",
		"X-Mainline-Event":         "rolled_back",
		"X-Mainline-Signature-256": notify.Sign([]byte("hook-secret"), r.Body),
		"X-Mainline-Delivery":      r.Header.Get(notify.DeliveryHeader),
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if id := r.Header.Get(notify.DeliveryHeader); !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("delivery id %q is not UUID-shaped", id)
	}

	// The payload decodes into the exported type with every field set.
	var p notify.Payload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Project != "orders" || p.Kind != "rolled_back" || p.Version != "0.0.2" || p.SHA == "" || p.EnvironmentURL == "" || p.At.IsZero() {
		t.Errorf("decoded payload %+v is missing fields", p)
	}
}

// TestWebhookSignature checks the signature as GitHub webhook receivers
// do, with go-github's validator, and that a wrong secret fails.
func TestWebhookSignature(t *testing.T) {
	rc := newReceiver(t)
	w := &notify.Webhook{URL: rc.URL, Secret: "hook-secret"}
	if err := w.Notify(context.Background(), note("deploy_finished", "live")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	r := rc.requests()[0]
	sig := r.Header.Get(notify.SignatureHeader)
	if !strings.HasPrefix(sig, "sha256=") {
		t.Fatalf("signature %q does not start with sha256=", sig)
	}
	if err := gh.ValidateSignature(sig, r.Body, []byte("hook-secret")); err != nil {
		t.Errorf("signature does not validate with the secret: %v", err)
	}
	if err := gh.ValidateSignature(sig, r.Body, []byte("other")); err == nil {
		t.Error("signature validates with a wrong secret")
	}
	tampered := append([]byte(nil), r.Body...)
	tampered[len(tampered)-2] ^= 1
	if err := gh.ValidateSignature(sig, tampered, []byte("hook-secret")); err == nil {
		t.Error("signature validates a changed body")
	}

	// Without a secret there is nothing to sign with.
	unsigned := &notify.Webhook{URL: rc.URL}
	if err := unsigned.Notify(context.Background(), note("deploy_finished", "live")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got := rc.requests()[1].Header.Get(notify.SignatureHeader); got != "" {
		t.Errorf("unsigned webhook sent %s: %q", notify.SignatureHeader, got)
	}
}

// TestWebhookDeliveryID: sending one notification again keeps its id, so
// receivers can drop repeats; another notification has another id.
func TestWebhookDeliveryID(t *testing.T) {
	rc := newReceiver(t)
	w := &notify.Webhook{URL: rc.URL}
	ctx := context.Background()
	for _, n := range []string{"deploy_started", "deploy_started", "deploy_finished"} {
		if err := w.Notify(ctx, note(n, "")); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	reqs := rc.requests()
	first, again, other := reqs[0].Header.Get(notify.DeliveryHeader), reqs[1].Header.Get(notify.DeliveryHeader), reqs[2].Header.Get(notify.DeliveryHeader)
	if first != again {
		t.Errorf("resent notification: delivery id %q, then %q; want the same", first, again)
	}
	if first == other {
		t.Errorf("two notifications share delivery id %q", first)
	}
}

func TestWebhookErrorsHideSecrets(t *testing.T) {
	rc := newReceiver(t)
	rc.failNext(http.StatusInternalServerError)
	w := &notify.Webhook{URL: rc.URL + "/in?token=t0k3n", Secret: "hook-secret"}
	err := w.Notify(context.Background(), note("deploy_finished", "live"))
	if err == nil {
		t.Fatal("Notify to a failing receiver succeeded")
	}
	var he *notify.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusInternalServerError {
		t.Errorf("error %v is not an HTTPError with status 500", err)
	}
	for _, secret := range []string{"t0k3n", "hook-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows %q: %v", secret, err)
		}
	}
	bad := &notify.Webhook{URL: "ftp://t0k3n@example/x"}
	if err := bad.Notify(context.Background(), note("deploy_finished", "live")); err == nil || strings.Contains(err.Error(), "t0k3n") {
		t.Errorf("Notify to a non-HTTP URL: %v, want an error without the URL", err)
	}
}
