package webhooks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/webhooks"
)

const branchPush = "push/with-new-branch.payload.json"

// Every real payload, sent as JSON and as a form, is stored, answered 202
// and wakes the repository exactly when it should.
func TestHandlerFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		want, ok := fixtureWants[f.Name]
		if !ok {
			t.Fatalf("fixture %s has no expectation in fixtureWants", f.Name)
		}
		for _, form := range []bool{false, true} {
			name := f.Name + "/json"
			if form {
				name = f.Name + "/form"
			}
			t.Run(name, func(t *testing.T) {
				st := openSQLite(t)
				h, waker := newHandler(st)
				id := "d-" + strings.NewReplacer("/", "-", ".", "-").Replace(name)
				code, body := serve(h, delivery{ID: id, Event: f.Event, Payload: f.Payload, Form: form, Secret: newSecret}.request(endpoint))
				if code != http.StatusAccepted {
					t.Fatalf("status = %d (%s), want 202", code, body)
				}
				wantAnswer := "accepted"
				if !webhooks.Handled(f.Event) {
					wantAnswer = "ignored"
				}
				if got := answerField(t, body, "status"); got != wantAnswer {
					t.Errorf("answer status = %q, want %q", got, wantAnswer)
				}
				var wantCalls []string
				if want.wakes {
					wantCalls = []string{want.sum.Repo}
				}
				if got := waker.Calls(); !slices.Equal(got, wantCalls) {
					t.Errorf("woke %q, want %q", got, wantCalls)
				}
				if es := events(t, st); len(es) != 0 {
					t.Errorf("events = %+v, want none (the repository is watched)", es)
				}
				if ds := pending(t, st); len(ds) != 0 {
					t.Errorf("%d deliveries left pending, want 0", len(ds))
				}
				if !deliveryStored(t, st, id) {
					t.Errorf("delivery %s not stored", id)
				}
			})
		}
	}
}

// The stored delivery is the decoded JSON payload, with its headers and the
// clock's time. A waker failure leaves it pending, and Process finishes it.
func TestHandlerStoresDeliveryAndProcessRecovers(t *testing.T) {
	payload := readFixture(t, branchPush)
	for _, form := range []bool{false, true} {
		t.Run(fmt.Sprintf("form=%v", form), func(t *testing.T) {
			ctx := context.Background()
			st := openSQLite(t)
			h, waker := newHandler(st)
			waker.err = errWake
			code, body := serve(h, delivery{ID: "d-1", Event: "push", Payload: payload, Form: form, Secret: oldSecret}.request(endpoint))
			if code != http.StatusAccepted {
				t.Fatalf("status = %d (%s), want 202 even though the waker failed", code, body)
			}
			ds := pending(t, st)
			if len(ds) != 1 {
				t.Fatalf("pending deliveries = %d, want 1", len(ds))
			}
			d := ds[0]
			if d.ID != "d-1" || d.Event != "push" || d.Repo != helloWorld || !d.ReceivedAt.Equal(receivedAt) {
				t.Errorf("stored delivery = {%s %s %s %v}, want {d-1 push %s %v}", d.ID, d.Event, d.Repo, d.ReceivedAt, helloWorld, receivedAt)
			}
			if !bytes.Equal(d.Payload, payload) {
				t.Errorf("stored payload differs from the JSON sent (%d bytes, want %d)", len(d.Payload), len(payload))
			}

			waker.err = nil
			if err := h.Process(ctx, d); err != nil {
				t.Fatalf("Process: %v", err)
			}
			if ds := pending(t, st); len(ds) != 0 {
				t.Errorf("pending deliveries after Process = %d, want 0", len(ds))
			}
			if got, want := waker.Calls(), []string{helloWorld, helloWorld}; !slices.Equal(got, want) {
				t.Errorf("woke %q, want %q (the failed wake, then Process's)", got, want)
			}
		})
	}
}

// A stored delivery that cannot be parsed any more is reported and not
// retried forever.
func TestProcessUnparsableDelivery(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	h, waker := newHandler(st)
	d := store.Delivery{ID: "d-bad", Event: "push", Payload: []byte(`{"ref":`), ReceivedAt: receivedAt}
	if _, err := st.AddDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := h.Process(ctx, d); !errors.Is(err, webhooks.ErrMalformed) {
		t.Errorf("Process error = %v, want ErrMalformed", err)
	}
	if ds := pending(t, st); len(ds) != 0 {
		t.Errorf("%d deliveries still pending, want 0", len(ds))
	}
	if got := waker.Calls(); len(got) != 0 {
		t.Errorf("woke %q for an unparsable delivery", got)
	}
}

// Every rejected request gets a 4xx with a JSON reason and changes nothing.
func TestHandlerRejects(t *testing.T) {
	push := readFixture(t, branchPush)
	signed := func(d delivery) func() *http.Request {
		return func() *http.Request { return d.request(endpoint) }
	}
	withHeader := func(d delivery, key, value string) func() *http.Request {
		return func() *http.Request {
			r := d.request(endpoint)
			r.Header.Set(key, value)
			return r
		}
	}
	ok := delivery{ID: "d-1", Event: "push", Payload: push, Secret: newSecret}
	with := func(f func(*delivery)) delivery { d := ok; f(&d); return d }
	tests := []struct {
		name      string
		handler   func(*webhooks.Handler)
		req       func() *http.Request
		wantCode  int
		wantError string // the answer's code
	}{
		{"GET", nil, func() *http.Request {
			r := ok.request(endpoint)
			r.Method = http.MethodGet
			return r
		}, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"PUT", nil, func() *http.Request {
			r := ok.request(endpoint)
			r.Method = http.MethodPut
			return r
		}, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"missing signature", nil, signed(with(func(d *delivery) { d.Secret = nil })), http.StatusUnauthorized, "bad_signature"},
		{"wrong secret", nil, signed(with(func(d *delivery) { d.Secret = otherSecret })), http.StatusUnauthorized, "bad_signature"},
		{"signature of another body", nil, withHeader(ok, "X-Hub-Signature-256", sign(newSecret, []byte("{}"))), http.StatusUnauthorized, "bad_signature"},
		{"signature not hex", nil, withHeader(ok, "X-Hub-Signature-256", "sha256=zz"), http.StatusUnauthorized, "bad_signature"},
		{"sha1 signature", nil, func() *http.Request {
			r := with(func(d *delivery) { d.Secret = nil }).request(endpoint)
			r.Header.Set("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000")
			return r
		}, http.StatusUnauthorized, "bad_signature"},
		{"sha512 in the sha256 header", nil, withHeader(ok, "X-Hub-Signature-256", "sha512="+strings.Repeat("00", 64)), http.StatusUnauthorized, "bad_signature"},
		{"no secret configured", func(h *webhooks.Handler) { h.Secrets = nil }, signed(ok), http.StatusUnauthorized, "bad_signature"},
		{"empty secret never matches", func(h *webhooks.Handler) { h.Secrets = [][]byte{{}} }, signed(with(func(d *delivery) { d.Secret = []byte{} })), http.StatusUnauthorized, "bad_signature"},
		{"malformed JSON", nil, signed(with(func(d *delivery) { d.Payload = push[:len(push)/2] })), http.StatusBadRequest, "malformed_payload"},
		{"malformed JSON in form", nil, signed(with(func(d *delivery) { d.Payload = []byte(`{"ref":`); d.Form = true })), http.StatusBadRequest, "malformed_payload"},
		{"JSON null", nil, signed(with(func(d *delivery) { d.Payload = []byte(`null`) })), http.StatusBadRequest, "malformed_payload"},
		{"unknown event not JSON", nil, signed(with(func(d *delivery) { d.Event = "sponsorship"; d.Payload = []byte(`nope`) })), http.StatusBadRequest, "malformed_payload"},
		{"push without ref", nil, signed(with(func(d *delivery) {
			d.Payload = []byte(`{"after":"abc","repository":{"full_name":"Codertocat/Hello-World"}}`)
		})), http.StatusBadRequest, "missing_field"},
		{"push without repository", nil, signed(with(func(d *delivery) { d.Payload = []byte(`{"ref":"refs/heads/main","after":"abc"}`) })), http.StatusBadRequest, "missing_field"},
		{"missing X-GitHub-Delivery", nil, signed(with(func(d *delivery) { d.ID = "" })), http.StatusBadRequest, "bad_header"},
		{"missing X-GitHub-Event", nil, signed(with(func(d *delivery) { d.Event = "" })), http.StatusBadRequest, "bad_header"},
		{"delivery id with spaces", nil, signed(with(func(d *delivery) { d.ID = "a b" })), http.StatusBadRequest, "bad_header"},
		{"delivery id too long", nil, signed(with(func(d *delivery) { d.ID = strings.Repeat("a", 200) })), http.StatusBadRequest, "bad_header"},
		{"event name with a newline", nil, signed(with(func(d *delivery) { d.Event = "push\nfake" })), http.StatusBadRequest, "bad_header"},
		{"text/plain", nil, withHeader(ok, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"form without payload", nil, func() *http.Request {
			body := []byte("other=1")
			r, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-GitHub-Delivery", "d-1")
			r.Header.Set("X-GitHub-Event", "push")
			r.Header.Set("X-Hub-Signature-256", sign(newSecret, body))
			return r
		}, http.StatusBadRequest, "malformed_payload"},
		{"form not decodable", nil, func() *http.Request {
			body := []byte("payload=%zz")
			r, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-GitHub-Delivery", "d-1")
			r.Header.Set("X-GitHub-Event", "push")
			r.Header.Set("X-Hub-Signature-256", sign(newSecret, body))
			return r
		}, http.StatusBadRequest, "malformed_payload"},
		{"body over the cap", func(h *webhooks.Handler) { h.MaxBodyBytes = int64(len(push)) - 1 }, signed(ok), http.StatusRequestEntityTooLarge, "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openSQLite(t)
			h, waker := newHandler(st)
			if tt.handler != nil {
				tt.handler(h)
			}
			code, body := serve(h, tt.req())
			if code != tt.wantCode {
				t.Errorf("status = %d (%s), want %d", code, body, tt.wantCode)
			}
			if got := answerField(t, body, "code"); got != tt.wantError {
				t.Errorf("answer code = %q, want %q", got, tt.wantError)
			}
			if answerField(t, body, "error") == "" {
				t.Errorf("answer %s gives no reason", body)
			}
			if got := waker.Calls(); len(got) != 0 {
				t.Errorf("woke %q on a rejected request", got)
			}
			assertUntouched(t, st, "d-1")
		})
	}
}

func TestHandlerMethodNotAllowedSaysAllow(t *testing.T) {
	h, _ := newHandler(openSQLite(t))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks/github", nil))
	if got := rec.Header().Get("Allow"); got != http.MethodPost {
		t.Errorf("Allow = %q, want POST", got)
	}
}

// During a rotation the old and the new secret are both valid; any other
// is not.
func TestHandlerSecretRotation(t *testing.T) {
	push := readFixture(t, branchPush)
	st := openSQLite(t)
	h, waker := newHandler(st)
	tests := []struct {
		id     string
		secret []byte
		want   int
	}{
		{"d-old", oldSecret, http.StatusAccepted},
		{"d-new", newSecret, http.StatusAccepted},
		{"d-other", otherSecret, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			code, body := serve(h, delivery{ID: tt.id, Event: "push", Payload: push, Secret: tt.secret}.request(endpoint))
			if code != tt.want {
				t.Errorf("status = %d (%s), want %d", code, body, tt.want)
			}
		})
	}
	if got := waker.Calls(); len(got) != 2 {
		t.Errorf("woke %d times, want 2 (old and new secret)", len(got))
	}
	if deliveryStored(t, st, "d-other") {
		t.Error("delivery signed with an unknown secret was stored")
	}
}

// A push to a repository no project watches is stored, answered 202 and
// recorded as ignored.
func TestHandlerUnknownRepository(t *testing.T) {
	st := openSQLite(t)
	h, waker := newHandler(st)
	waker.known = nil
	code, body := serve(h, delivery{ID: "d-unknown", Event: "push", Payload: readFixture(t, branchPush), Secret: newSecret}.request(endpoint))
	if code != http.StatusAccepted {
		t.Fatalf("status = %d (%s), want 202", code, body)
	}
	es := events(t, st)
	if len(es) != 1 {
		t.Fatalf("events = %+v, want one", es)
	}
	e := es[0]
	if e.ProjectID != 0 || e.Kind != webhooks.EventWebhookIgnored || !e.At.Equal(receivedAt) {
		t.Errorf("event = %+v, want project 0, kind %s, at %v", e, webhooks.EventWebhookIgnored, receivedAt)
	}
	for _, s := range []string{"d-unknown", "push", helloWorld} {
		if !strings.Contains(e.Message, s) {
			t.Errorf("event message %q does not name %q", e.Message, s)
		}
	}
	if ds := pending(t, st); len(ds) != 0 {
		t.Errorf("%d deliveries pending, want 0", len(ds))
	}
}

// A nil Waker watches nothing: wakes are recorded as ignored.
func TestHandlerNilWaker(t *testing.T) {
	st := openSQLite(t)
	h, _ := newHandler(st)
	h.Waker = nil
	code, body := serve(h, delivery{ID: "d-1", Event: "status", Payload: readFixture(t, "status/payload.json"), Secret: newSecret}.request(endpoint))
	if code != http.StatusAccepted {
		t.Fatalf("status = %d (%s), want 202", code, body)
	}
	if es := events(t, st); len(es) != 1 || es[0].Kind != webhooks.EventWebhookIgnored {
		t.Errorf("events = %+v, want one %s", es, webhooks.EventWebhookIgnored)
	}
}

// A Handler without a store cannot keep a delivery, so it does not
// acknowledge one.
func TestHandlerNoStore(t *testing.T) {
	h, waker := newHandler(nil)
	h.Store = nil
	code, body := serve(h, delivery{ID: "d-1", Event: "push", Payload: readFixture(t, branchPush), Secret: newSecret}.request(endpoint))
	if code != http.StatusServiceUnavailable {
		t.Errorf("status = %d (%s), want 503", code, body)
	}
	if len(waker.Calls()) != 0 {
		t.Error("woke projects for a delivery that was not stored")
	}
}

// A redelivery (same X-GitHub-Delivery) is acknowledged and not processed
// again, whatever its body.
func TestHandlerDuplicateDelivery(t *testing.T) {
	storetest.Each(t, testDuplicateDelivery)
}

func testDuplicateDelivery(t *testing.T, st store.Store) {
	h, waker := newHandler(st)
	push := readFixture(t, branchPush)
	tests := []struct {
		name       string
		d          delivery
		wantCode   int
		wantStatus string
	}{
		{"first", delivery{ID: "d-dup", Event: "push", Payload: push, Secret: newSecret}, http.StatusAccepted, "accepted"},
		{"again", delivery{ID: "d-dup", Event: "push", Payload: push, Secret: newSecret}, http.StatusOK, "duplicate"},
		{"again as a form with the old secret", delivery{ID: "d-dup", Event: "push", Payload: push, Form: true, Secret: oldSecret}, http.StatusOK, "duplicate"},
		{"replayed id, other event", delivery{ID: "d-dup", Event: "status", Payload: readFixture(t, "status/payload.json"), Secret: newSecret}, http.StatusOK, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := serve(h, tt.d.request(endpoint))
			if code != tt.wantCode || answerField(t, body, "status") != tt.wantStatus {
				t.Errorf("answer = %d %s, want %d with status %q", code, body, tt.wantCode, tt.wantStatus)
			}
		})
	}
	if got, want := waker.Calls(), []string{helloWorld}; !slices.Equal(got, want) {
		t.Errorf("woke %q, want %q (once)", got, want)
	}
}

// 200 concurrent deliveries of one id over real HTTP: one is processed,
// the others are acknowledged as duplicates.
func TestHandlerConcurrentDuplicates(t *testing.T) {
	storetest.Each(t, testConcurrentDuplicates)
}

func testConcurrentDuplicates(t *testing.T, st store.Store) {
	h, waker := newHandler(st)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	push := readFixture(t, branchPush)

	const n = 200
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := delivery{ID: "d-same", Event: "push", Payload: push, Form: i%2 == 1, Secret: [][]byte{oldSecret, newSecret}[i%2]}
			resp, err := srv.Client().Do(d.request(srv.URL + "/webhooks/github"))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusAccepted] != 1 || count[http.StatusOK] != n-1 {
		t.Errorf("answers = %v, want one 202 and %d 200", count, n-1)
	}
	if got := len(waker.Calls()); got != 1 {
		t.Errorf("woke %d times, want 1", got)
	}
	if ds := pending(t, st); len(ds) != 0 {
		t.Errorf("%d deliveries pending, want 0", len(ds))
	}
}

// A body over the cap is refused: at once when its declared length says so,
// and as soon as the cap is passed when it streams.
func TestHandlerOversizedBody(t *testing.T) {
	tests := []struct {
		name     string
		max      int64 // 0: the default, GitHub's 25 MiB
		declared int64 // -1: chunked, length unknown
		maxRead  int64 // the handler may read at most this much
	}{
		{"declared 1 GiB, default cap", 0, 1 << 30, 0},
		{"declared one byte over the cap", 1 << 20, 1<<20 + 1, 0},
		{"streamed past the cap", 1 << 20, -1, 1<<20 + 64<<10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openSQLite(t)
			h, _ := newHandler(st)
			h.MaxBodyBytes = tt.max
			body := &countingReader{}
			r := httptest.NewRequest(http.MethodPost, "/webhooks/github", io.NopCloser(body))
			r.ContentLength = tt.declared
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-GitHub-Delivery", "d-1")
			r.Header.Set("X-GitHub-Event", "push")
			r.Header.Set("X-Hub-Signature-256", sign(newSecret, []byte("{}")))
			code, answer := serve(h, r)
			if code != http.StatusRequestEntityTooLarge {
				t.Errorf("status = %d (%s), want 413", code, answer)
			}
			if got := body.Count(); got > tt.maxRead {
				t.Errorf("handler read %d bytes, want at most %d", got, tt.maxRead)
			}
			assertUntouched(t, st, "d-1")
		})
	}
}

// A request that cannot be authentic is refused before its body is read.
func TestHandlerUnsignedBodyNotRead(t *testing.T) {
	tests := []struct {
		name    string
		sig     string
		secrets [][]byte
	}{
		{"no signature", "", [][]byte{newSecret}},
		{"sha1 signature", "sha1=" + strings.Repeat("0", 40), [][]byte{newSecret}},
		{"no secret configured", sign(newSecret, nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openSQLite(t)
			h, _ := newHandler(st)
			h.Secrets = tt.secrets
			body := &countingReader{}
			r := httptest.NewRequest(http.MethodPost, "/webhooks/github", io.NopCloser(body))
			r.ContentLength = 1 << 20
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-GitHub-Delivery", "d-1")
			r.Header.Set("X-GitHub-Event", "push")
			if tt.sig != "" {
				r.Header.Set("X-Hub-Signature-256", tt.sig)
			}
			code, answer := serve(h, r)
			if code != http.StatusUnauthorized {
				t.Errorf("status = %d (%s), want 401", code, answer)
			}
			if got := body.Count(); got != 0 {
				t.Errorf("handler read %d bytes of an unauthenticated body, want 0", got)
			}
			assertUntouched(t, st, "d-1")
		})
	}
}

// Rejected and accepted requests alike: every answer is JSON, and a nil
// Logger and Clock are fine.
func TestHandlerZeroValueDefaults(t *testing.T) {
	st := openSQLite(t)
	h := &webhooks.Handler{Secrets: [][]byte{newSecret}, Store: st}
	code, body := serve(h, delivery{ID: "d-1", Event: "ping", Payload: readFixture(t, "ping/payload.json"), Secret: newSecret}.request(endpoint))
	if code != http.StatusAccepted {
		t.Fatalf("status = %d (%s), want 202", code, body)
	}
	if !deliveryStored(t, st, "d-1") {
		t.Error("ping not stored")
	}
}

var _ webhooks.Store = (store.Store)(nil)
