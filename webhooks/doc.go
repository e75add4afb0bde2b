// Package webhooks is Mainline's GitHub webhook receiver: the http.Handler
// behind POST /webhooks/github.
//
// For each request it checks the method, caps the body with
// http.MaxBytesReader, verifies the X-Hub-Signature-256 HMAC with go-github's
// own helpers against any of the configured secrets (two at once during a
// rotation), parses the payload, and commits the delivery to the store before
// it answers 2xx. A repeated X-GitHub-Delivery is acknowledged and not
// processed again. A push to a branch, and pull request, check and status
// events, wake the watched projects of the repository through a Waker (the
// controller implements it); the controller is level-triggered, so a wake only
// makes it look early, and a lost webhook costs nothing but time.
//
// Rejected requests (wrong method, bad signature, oversized or malformed
// bodies) change no state. Secrets never appear in logs, errors or answers.
//
// The package imports controller/store for its record types and go-github for
// webhook verification and parsing; cmd/mainline imports it and mounts the
// Handler.
package webhooks
