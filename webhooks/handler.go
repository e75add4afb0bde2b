package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/controller/store"
)

// DefaultMaxBodyBytes is GitHub's own cap on a webhook payload, 25 MiB.
const DefaultMaxBodyBytes = 25 << 20

// EventWebhookIgnored is the kind of the event recorded when a delivery
// should wake projects but no watched project has its repository.
const EventWebhookIgnored = "webhook_ignored"

// Store is what the Handler needs from controller/store.Store.
type Store interface {
	AddDelivery(ctx context.Context, d store.Delivery) (bool, error)
	MarkDeliveryProcessed(ctx context.Context, id string, at time.Time) error
	AddEvent(ctx context.Context, e store.Event) (store.Event, error)
}

var _ Store = (store.Store)(nil)

// ErrDeferred is what a Waker returns, wrapped, when this process does not
// wake projects itself (a follower replica): the delivery is left pending
// for the process that does, and that is not an error worth alerting on.
var ErrDeferred = errors.New("processing deferred")

// Waker wakes the projects watching a repository; the controller implements
// it. A wake only asks the controller to reconcile early, so it should be
// quick (enqueue, don't reconcile).
type Waker interface {
	// WakeRepository wakes every project watching the repository fullName
	// ("owner/name") and returns how many it woke.
	WakeRepository(ctx context.Context, fullName string) (int, error)
}

// Metrics counts requests, for monitoring; cmd/mainline passes Prometheus
// counters. Results and codes come from a fixed set, never from the
// request.
type Metrics interface {
	// WebhookReceived counts an authentic delivery by what became of it:
	// "accepted", "ignored", "duplicate" or "unavailable".
	WebhookReceived(result string)
	// WebhookRejected counts a refused request by its error code
	// ("bad_signature", "body_too_large", …).
	WebhookRejected(code string)
}

// Clock tells the time deliveries are received and processed.
type Clock interface {
	Now() time.Time
}

// Handler receives GitHub webhooks; mount it at POST /webhooks/github. Its
// zero value rejects every request (no secret is configured); set Secrets
// and Store. A Handler is safe for concurrent use and must not be changed
// while it serves.
type Handler struct {
	// Secrets are the webhook secrets; a signature made with any one of
	// them is valid, so a secret can be rotated by configuring the old and
	// the new one at once. Empty secrets are skipped: a request is never
	// accepted unsigned.
	Secrets [][]byte
	// Store keeps deliveries and events. Without one every valid delivery
	// is answered 503, since it could not be kept.
	Store Store
	// Waker wakes watched projects. Nil acts as a controller that watches
	// no repository.
	Waker Waker
	// Logger receives one line per request; nil discards them.
	Logger *slog.Logger
	// Clock stamps deliveries; nil means the wall clock.
	Clock Clock
	// MaxBodyBytes caps the request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Metrics counts requests; nil counts nothing.
	Metrics Metrics
	// ProjectSecrets, if set, returns the webhook secrets of the projects
	// watching the repository repoFullName ("owner/name"); nil if there
	// are none or no project watches it. It is asked only when no global
	// secret signs a delivery, with the repository named by the still
	// unverified payload, so a project's secret is valid for deliveries
	// about its own repository only. An error is answered 503, for
	// GitHub to redeliver.
	ProjectSecrets func(ctx context.Context, repoFullName string) ([][]byte, error)
}

var _ http.Handler = (*Handler)(nil)

// Response codes of the JSON error bodies, {"error": "...", "code": "..."}.
const (
	codeMethod        = "method_not_allowed"
	codeTooLarge      = "body_too_large"
	codeReadBody      = "read_error"
	codeSignature     = "bad_signature"
	codeMediaType     = "unsupported_media_type"
	codeHeader        = "bad_header"
	codeMalformed     = "malformed_payload"
	codeMissingField  = "missing_field"
	codeUnavailable   = "store_unavailable"
	codeNotConfigured = "not_configured"
)

// ServeHTTP checks, stores and processes one delivery. Every 4xx answer
// leaves the store untouched.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Until the signature is checked the headers are the sender's word:
	// log them shortened.
	log := h.logger().With(
		"delivery", clip(github.DeliveryID(r)),
		"event", clip(github.WebHookType(r)),
		"repo", "")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, log, http.StatusMethodNotAllowed, codeMethod, "method "+clip(r.Method)+" not allowed; use POST")
		return
	}
	limit := h.maxBodyBytes()
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength > limit {
		h.reject(w, log, http.StatusRequestEntityTooLarge, codeTooLarge,
			fmt.Sprintf("body of %d bytes is over the limit of %d", r.ContentLength, limit))
		return
	}
	// A request that cannot pass the signature check is refused before
	// its body is read.
	sig := r.Header.Get(github.SHA256SignatureHeader)
	if reason := h.checkSignatureHeader(log, sig); reason != "" {
		h.reject(w, log, http.StatusUnauthorized, codeSignature, reason)
		return
	}
	body, err := readBody(r.Body, r.ContentLength)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.reject(w, log, http.StatusRequestEntityTooLarge, codeTooLarge,
				fmt.Sprintf("body is over the limit of %d bytes", limit))
			return
		}
		h.reject(w, log, http.StatusBadRequest, codeReadBody, "reading body: "+err.Error())
		return
	}

	payload, signedFor, status, code, reason := h.verify(r, log, sig, body)
	if status != 0 {
		h.reject(w, log, status, code, reason)
		return
	}

	id, event := github.DeliveryID(r), github.WebHookType(r)
	switch {
	case id == "":
		h.reject(w, log, http.StatusBadRequest, codeHeader, "missing X-GitHub-Delivery header")
		return
	case !validDeliveryID(id):
		h.reject(w, log, http.StatusBadRequest, codeHeader, "invalid X-GitHub-Delivery header")
		return
	case event == "":
		h.reject(w, log, http.StatusBadRequest, codeHeader, "missing X-GitHub-Event header")
		return
	case !validEvent(event):
		h.reject(w, log, http.StatusBadRequest, codeHeader, "invalid X-GitHub-Event header")
		return
	}
	sum, err := Summarize(event, payload)
	log = h.logger().With("delivery", id, "event", event, "repo", sum.Repo)
	if err != nil {
		code := codeMalformed
		if errors.Is(err, ErrMissingField) {
			code = codeMissingField
		}
		h.reject(w, log, http.StatusBadRequest, code, err.Error())
		return
	}
	if signedFor != "" && sum.Repo != signedFor {
		// Cannot happen while Summarize and repositoryOf read the same
		// field; checked so that a project's secret never vouches for
		// another repository's delivery.
		h.reject(w, log, http.StatusUnauthorized, codeSignature, "signature does not match")
		return
	}
	if h.Store == nil {
		log.Error("webhook not stored: no store configured")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "webhook store not configured", Code: codeNotConfigured})
		return
	}

	// From here on the delivery is authentic and well formed: finish the
	// job even if the sender hangs up.
	ctx := context.WithoutCancel(r.Context())
	d := store.Delivery{
		ID:         id,
		Event:      event,
		Repo:       sum.Repo,
		Payload:    payload,
		ReceivedAt: h.now(),
	}
	if !sum.Wakes() {
		// Nothing to do after storing it: store it processed, in one
		// write instead of two.
		d.ProcessedAt = d.ReceivedAt
	}
	isNew, err := h.Store.AddDelivery(ctx, d)
	if err != nil {
		log.Error("webhook not stored", "err", err)
		h.count("unavailable")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "could not store the delivery; retry later", Code: codeUnavailable})
		return
	}
	if !isNew {
		log.Info("webhook duplicate delivery acknowledged")
		h.count("duplicate")
		writeJSON(w, http.StatusOK, statusBody{Status: "duplicate"})
		return
	}
	// The delivery is durable: answer 202 whatever happens next. If
	// processing fails it stays pending, for the controller's recovery
	// (Process) to finish; a redelivery would only be a duplicate.
	if !sum.Wakes() {
		log.Info("webhook stored, nothing to wake", "ref", sum.Ref)
	} else if err := h.process(ctx, log, id, sum); errors.Is(err, ErrDeferred) {
		log.Info("webhook stored, left pending for another process", "reason", err)
	} else if err != nil {
		log.Error("webhook stored, processing left pending", "err", err)
	}
	answer := "accepted"
	if !Handled(event) {
		answer = "ignored"
	}
	h.count(answer)
	writeJSON(w, http.StatusAccepted, statusBody{Status: answer})
}

// Process finishes a stored delivery: it wakes the projects watching its
// repository when the event calls for it, records an event when no project
// watches it, and marks the delivery processed. The Handler does this for
// every new delivery; the controller calls it on start for the deliveries
// store.PendingDeliveries still lists after a crash. Doing it twice only
// wakes twice. A stored payload that no longer parses (a newer binary
// stored it) cannot be processed: it is marked processed so it is not
// retried forever, and the error says why.
func (h *Handler) Process(ctx context.Context, d store.Delivery) error {
	sum, err := Summarize(d.Event, d.Payload)
	if err != nil {
		err = fmt.Errorf("delivery %s: %w", d.ID, err)
		if h.Store != nil {
			if merr := h.Store.MarkDeliveryProcessed(ctx, d.ID, h.now()); merr != nil {
				return errors.Join(err, fmt.Errorf("delivery %s: mark processed: %w", d.ID, merr))
			}
		}
		return err
	}
	log := h.logger().With("delivery", d.ID, "event", d.Event, "repo", sum.Repo)
	return h.process(ctx, log, d.ID, sum)
}

func (h *Handler) process(ctx context.Context, log *slog.Logger, id string, sum Summary) error {
	if h.Store == nil {
		return fmt.Errorf("delivery %s: no store configured", id)
	}
	if sum.Wakes() {
		n := 0
		if h.Waker != nil {
			var err error
			if n, err = h.Waker.WakeRepository(ctx, sum.Repo); err != nil {
				return fmt.Errorf("delivery %s: wake %s: %w", id, sum.Repo, err)
			}
		}
		if n == 0 {
			msg := fmt.Sprintf("webhook %s (delivery %s) for %s ignored: no watched project", sum.Event, id, sum.Repo)
			if _, err := h.Store.AddEvent(ctx, store.Event{Kind: EventWebhookIgnored, Message: msg, At: h.now()}); err != nil {
				return fmt.Errorf("delivery %s: record ignored event: %w", id, err)
			}
			log.Info("webhook for no watched project", "sha", sum.SHA, "branch", sum.Branch)
		} else {
			log.Info("webhook woke projects", "projects", n, "sha", sum.SHA, "branch", sum.Branch)
		}
	} else {
		log.Info("webhook stored, nothing to wake", "ref", sum.Ref)
	}
	if err := h.Store.MarkDeliveryProcessed(ctx, id, h.now()); err != nil {
		return fmt.Errorf("delivery %s: mark processed: %w", id, err)
	}
	return nil
}

// checkSignatureHeader returns why no request with the signature sig can
// be valid, or "" if one can.
func (h *Handler) checkSignatureHeader(log *slog.Logger, sig string) string {
	// Only SHA-256: go-github's ValidatePayload would fall back to the
	// SHA-1 X-Hub-Signature header.
	if sig == "" {
		return "missing " + github.SHA256SignatureHeader + " header"
	}
	if !strings.HasPrefix(sig, "sha256=") {
		return github.SHA256SignatureHeader + " is not a sha256= signature"
	}
	if h.ProjectSecrets == nil && !slices.ContainsFunc(h.Secrets, func(s []byte) bool { return len(s) > 0 }) {
		log.Error("webhook secret not configured: every delivery is refused")
		return "signature does not match"
	}
	return ""
}

// verify checks the signature over the raw body against each global
// secret, then against the project secrets of the repository the body
// names, and returns the JSON payload and, when a project's secret signed
// it, that repository; or the status, code and reason to reject with.
// The reason never quotes the signature or a secret.
func (h *Handler) verify(r *http.Request, log *slog.Logger, sig string, body []byte) (payload []byte, signedFor string, status int, code, reason string) {
	mediaType, _, mediaErr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	secret := matchingSecret(sig, body, h.Secrets)
	if secret == nil && h.ProjectSecrets != nil && mediaErr == nil {
		if repo := repositoryOf(mediaType, body); repo != "" {
			secrets, err := h.ProjectSecrets(r.Context(), repo)
			if err != nil {
				log.Error("webhook project secrets unavailable", "err", err)
				return nil, "", http.StatusServiceUnavailable, codeUnavailable, "could not check the signature; retry later"
			}
			if secret = matchingSecret(sig, body, secrets); secret != nil {
				signedFor = repo
			}
		}
	}
	if secret == nil {
		return nil, "", http.StatusUnauthorized, codeSignature, "signature does not match"
	}
	if mediaErr != nil || (mediaType != "application/json" && mediaType != "application/x-www-form-urlencoded") {
		return nil, "", http.StatusUnsupportedMediaType, codeMediaType,
			"Content-Type must be application/json or application/x-www-form-urlencoded"
	}
	// ValidatePayloadFromBody (what ValidatePayload calls) checks the
	// signature again, with the secret that matched, and unwraps a form
	// body's payload= value.
	payload, err := github.ValidatePayloadFromBody(mediaType, bytes.NewReader(body), sig, secret)
	if err != nil {
		return nil, "", http.StatusBadRequest, codeMalformed, "reading form body: " + err.Error()
	}
	return payload, signedFor, 0, "", ""
}

// matchingSecret returns the first non-empty secret whose signature of body
// is sig, or nil.
func matchingSecret(sig string, body []byte, secrets [][]byte) []byte {
	for _, s := range secrets {
		if len(s) > 0 && github.ValidateSignature(sig, body, s) == nil {
			return s
		}
	}
	return nil
}

// repositoryOf returns the repository.full_name of an unverified body, a
// JSON object or a form with a payload= value, or "" if it names none that
// could be a GitHub repository. It only chooses which secrets to try.
func repositoryOf(mediaType string, body []byte) string {
	switch mediaType {
	case "application/json":
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return ""
		}
		body = []byte(form.Get("payload"))
	default:
		return ""
	}
	var p struct {
		Repository *struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Repository == nil {
		return ""
	}
	if name := p.Repository.FullName; githubRepoName(name) {
		return name
	}
	return ""
}

// githubRepoName reports whether name has the shape of a GitHub repository
// full name: "owner/name" of letters, digits and -_. only, neither part
// "." or "..".
func githubRepoName(name string) bool {
	owner, repo, ok := strings.Cut(name, "/")
	if !ok || len(name) > 200 {
		return false
	}
	for _, part := range []string{owner, repo} {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	for _, c := range []byte(owner + repo) {
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func (h *Handler) reject(w http.ResponseWriter, log *slog.Logger, status int, code, reason string) {
	log.Warn("webhook rejected", "status", status, "code", code, "reason", reason)
	if h.Metrics != nil {
		h.Metrics.WebhookRejected(code)
	}
	writeJSON(w, status, errorBody{Error: reason, Code: code})
}

func (h *Handler) count(result string) {
	if h.Metrics != nil {
		h.Metrics.WebhookReceived(result)
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) now() time.Time {
	if h.Clock == nil {
		return time.Now()
	}
	return h.Clock.Now()
}

func (h *Handler) maxBodyBytes() int64 {
	if h.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return h.MaxBodyBytes
}

// readBody reads all of r, sized up front when the length is declared.
func readBody(r io.Reader, declared int64) ([]byte, error) {
	var buf bytes.Buffer
	if declared > 0 {
		buf.Grow(int(declared))
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

type statusBody struct {
	Status string `json:"status"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the sender may be gone; nothing to do
}

// validDeliveryID accepts GitHub's delivery GUIDs and other short tokens
// of letters, digits and -_.: — nothing to smuggle into logs or SQL.
func validDeliveryID(id string) bool {
	if len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != ':' {
			return false
		}
	}
	return true
}

// validEvent accepts event names like "pull_request".
func validEvent(event string) bool {
	if len(event) > 64 {
		return false
	}
	for _, c := range []byte(event) {
		if !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// clip shortens a header value the sender chose before it goes to a log.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
