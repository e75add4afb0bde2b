package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/webhooks"
)

var (
	oldSecret   = []byte("old-secret-5f1c8e0a")
	newSecret   = []byte("new-secret-9b27d4c3")
	otherSecret = []byte("other-secret-0d6e2b71")
)

// receivedAt is the fake clock's time.
var receivedAt = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// recordingWaker records every wake; known maps repositories to how many
// projects watch them.
type recordingWaker struct {
	known map[string]int
	err   error

	mu    sync.Mutex
	calls []string
}

var _ webhooks.Waker = (*recordingWaker)(nil)

func (w *recordingWaker) WakeRepository(_ context.Context, fullName string) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, fullName)
	if w.err != nil {
		return 0, w.err
	}
	return w.known[fullName], nil
}

func (w *recordingWaker) Calls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

// openSQLite returns a fresh SQLite store in a temporary directory.
func openSQLite(t testing.TB) store.Store {
	t.Helper()
	return storetest.SQLite(t)
}

// newHandler returns a Handler over st accepting oldSecret and newSecret,
// with a waker that knows Codertocat/Hello-World.
func newHandler(st store.Store) (*webhooks.Handler, *recordingWaker) {
	w := &recordingWaker{known: map[string]int{helloWorld: 1}}
	return &webhooks.Handler{
		Secrets: [][]byte{oldSecret, newSecret},
		Store:   st,
		Waker:   w,
		Clock:   fixedClock{receivedAt},
	}, w
}

// sign is the X-Hub-Signature-256 of body, computed here rather than with
// go-github so the test checks the handler against the definition.
func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// delivery describes one webhook request.
type delivery struct {
	ID, Event string
	Payload   []byte
	Form      bool   // send as application/x-www-form-urlencoded payload=
	Secret    []byte // nil: unsigned
}

// body returns the request body and its content type.
func (d delivery) body() ([]byte, string) {
	if d.Form {
		return []byte(url.Values{"payload": {string(d.Payload)}}.Encode()), "application/x-www-form-urlencoded"
	}
	return d.Payload, "application/json"
}

// endpoint is where requests served in-process are addressed.
const endpoint = "http://127.0.0.1/webhooks/github"

// request builds the request GitHub would send to target.
func (d delivery) request(target string) *http.Request {
	body, ctype := d.body()
	r, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		panic(err) // target is a constant or an httptest server's URL
	}
	r.Header.Set("Content-Type", ctype)
	r.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	if d.ID != "" {
		r.Header.Set("X-GitHub-Delivery", d.ID)
	}
	if d.Event != "" {
		r.Header.Set("X-GitHub-Event", d.Event)
	}
	if d.Secret != nil {
		r.Header.Set("X-Hub-Signature-256", sign(d.Secret, body))
	}
	return r
}

// serve sends r to h and returns the answer's status and body.
func serve(h http.Handler, r *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Code, rec.Body.String()
}

// answerField returns field of the JSON object body.
func answerField(t testing.TB, body, field string) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("answer %q is not a JSON object of strings: %v", body, err)
	}
	return m[field]
}

// deliveryStored reports whether st holds a delivery with id. It probes
// with AddDelivery, so call it last.
func deliveryStored(t testing.TB, st store.Store, id string) bool {
	t.Helper()
	isNew, err := st.AddDelivery(context.Background(), store.Delivery{ID: id, Event: "probe", ReceivedAt: receivedAt})
	if err != nil {
		t.Fatalf("probe delivery %s: %v", id, err)
	}
	return !isNew
}

// events returns every event in st.
func events(t testing.TB, st store.Store) []store.Event {
	t.Helper()
	es, err := st.Events(context.Background(), store.EventQuery{Limit: 1000})
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	return es
}

// pending returns the unprocessed deliveries in st.
func pending(t testing.TB, st store.Store) []store.Delivery {
	t.Helper()
	ds, err := st.PendingDeliveries(context.Background(), 1000)
	if err != nil {
		t.Fatalf("pending deliveries: %v", err)
	}
	return ds
}

// assertUntouched fails unless st holds no delivery (id included) and no
// event.
func assertUntouched(t testing.TB, st store.Store, id string) {
	t.Helper()
	if es := events(t, st); len(es) != 0 {
		t.Errorf("store holds %d events after a rejected request, want 0: %+v", len(es), es)
	}
	if ds := pending(t, st); len(ds) != 0 {
		t.Errorf("store holds %d pending deliveries after a rejected request, want 0", len(ds))
	}
	if id != "" && deliveryStored(t, st, id) {
		t.Errorf("delivery %s stored after a rejected request", id)
	}
}

// countingReader is an endless stream of spaces that counts the bytes
// read from it.
type countingReader struct {
	mu sync.Mutex
	n  int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	c.mu.Lock()
	c.n += int64(len(p))
	c.mu.Unlock()
	return len(p), nil
}

func (c *countingReader) Count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// errWake is the failure of a waker that is down.
var errWake = errors.New("controller unavailable")
