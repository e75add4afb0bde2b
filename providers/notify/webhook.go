package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

var _ providers.Notifier = (*Webhook)(nil)

// Headers of a webhook delivery.
const (
	// EventHeader holds the notification's kind, e.g. "deploy_finished".
	EventHeader = "X-Mainline-Event"
	// DeliveryHeader holds an id that is the same each time one
	// notification is sent again, so receivers can drop repeats.
	DeliveryHeader = "X-Mainline-Delivery"
	// SignatureHeader holds "sha256=" and the hex HMAC-SHA256 of the body
	// keyed with the secret — GitHub's X-Hub-Signature-256 scheme, so
	// GitHub webhook libraries can check it.
	SignatureHeader = "X-Mainline-Signature-256"
)

// Payload is the JSON body of a webhook delivery. Its field names are
// stable; every field is always present, empty when unknown.
type Payload struct {
	Project        string    `json:"project"`
	Kind           string    `json:"kind"`
	Version        string    `json:"version"`
	SHA            string    `json:"sha"`
	Message        string    `json:"message"`
	URL            string    `json:"url"`             // the dashboard
	EnvironmentURL string    `json:"environment_url"` // the deployed service
	At             time.Time `json:"at"`              // UTC
}

// Webhook posts each notification as JSON to a URL, signed with a shared
// secret.
type Webhook struct {
	// URL receives the POSTs. Only its scheme and host appear in errors.
	URL string
	// Secret keys the signature; empty sends no signature header. It never
	// appears in errors or logs.
	Secret string
	// HTTPClient sends the posts; nil is a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Notify posts n.
func (w *Webhook) Notify(ctx context.Context, n providers.Notification) error {
	body, err := json.Marshal(Payload{
		Project: n.Project, Kind: n.Kind, Version: n.Version, SHA: n.SHA,
		Message: n.Message, URL: n.URL, EnvironmentURL: n.EnvironmentURL, At: n.At.UTC(),
	})
	if err != nil {
		return fmt.Errorf("webhook: encode %s: %w", n.Kind, err)
	}
	header := http.Header{
		"Content-Type": {"application/json"},
		"User-Agent":   {"Mainline-Notify"},
		EventHeader:    {n.Kind},
		DeliveryHeader: {deliveryID(body)},
	}
	if w.Secret != "" {
		header.Set(SignatureHeader, Sign([]byte(w.Secret), body))
	}
	if err := post(ctx, w.HTTPClient, w.URL, header, body); err != nil {
		return fmt.Errorf("webhook: %s %s: %w", n.Kind, n.Project, err)
	}
	return nil
}

// Sign returns the signature header value of body keyed with secret:
// "sha256=" and the hex HMAC-SHA256. A receiver checks a delivery by
// computing it over the raw body and comparing with hmac.Equal.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// deliveryID derives a UUID-shaped id from the body, so a retried
// notification keeps its id (the body holds its time, project and kind).
func deliveryID(body []byte) string {
	h := sha256.Sum256(body)
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
