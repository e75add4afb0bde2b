package webhooks_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the handler's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Every log line names the delivery, event and repository, and no secret
// reaches a log line or an answer, whatever the request.
func TestHandlerLogsNoSecrets(t *testing.T) {
	st := openSQLite(t)
	h, waker := newHandler(st)
	var logs syncBuffer
	h.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.MaxBodyBytes = 1 << 20
	h.ProjectSecrets = projectSecrets(map[string][][]byte{helloWorld: {projectSecret}, "octo-org/api": {apiSecret}})
	push := readFixture(t, branchPush)

	requests := []*http.Request{
		delivery{ID: "d-old", Event: "push", Payload: push, Secret: oldSecret}.request(endpoint),
		delivery{ID: "d-new", Event: "push", Payload: push, Form: true, Secret: newSecret}.request(endpoint),
		delivery{ID: "d-new", Event: "push", Payload: push, Secret: newSecret}.request(endpoint), // duplicate
		delivery{ID: "d-other", Event: "push", Payload: push, Secret: otherSecret}.request(endpoint),
		delivery{ID: "d-project", Event: "push", Payload: push, Secret: projectSecret}.request(endpoint),
		delivery{ID: "d-project-form", Event: "push", Payload: push, Form: true, Secret: projectSecret}.request(endpoint),
		delivery{ID: "d-api", Event: "push", Payload: push, Secret: apiSecret}.request(endpoint),
		delivery{ID: "d-unsigned", Event: "push", Payload: push}.request(endpoint),
		delivery{ID: "d-bad", Event: "push", Payload: []byte(`{"ref":`), Secret: newSecret}.request(endpoint),
		delivery{ID: "d-field", Event: "push", Payload: []byte(`{"ref":"refs/heads/x"}`), Secret: oldSecret}.request(endpoint),
		delivery{ID: "d-ping", Event: "ping", Payload: readFixture(t, "ping/payload.json"), Secret: oldSecret}.request(endpoint),
		delivery{ID: "d-unknown-event", Event: "workflow_run", Payload: readFixture(t, "workflow_run/completed.payload.json"), Secret: oldSecret}.request(endpoint),
	}
	// The secret itself sent as the signature, and a signature made with
	// it, must not be echoed.
	r := delivery{ID: "d-echo", Event: "push", Payload: push}.request(endpoint)
	r.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(newSecret))
	requests = append(requests, r)
	r = delivery{ID: "d-echo2", Event: "push", Payload: push}.request(endpoint)
	r.Header.Set("X-Hub-Signature-256", "sha256="+string(newSecret))
	requests = append(requests, r)
	r = delivery{ID: "d-big", Event: "push", Payload: push, Secret: newSecret}.request(endpoint)
	r.ContentLength = 1 << 30
	requests = append(requests, r)

	var answers strings.Builder
	for _, r := range requests {
		_, body := serve(h, r)
		answers.WriteString(body)
	}
	// Unknown repository, then a failing waker.
	waker.known = nil
	_, body := serve(h, delivery{ID: "d-unwatched", Event: "push", Payload: push, Secret: oldSecret}.request(endpoint))
	answers.WriteString(body)
	waker.err = errWake
	_, body = serve(h, delivery{ID: "d-wake-fails", Event: "push", Payload: push, Secret: newSecret}.request(endpoint))
	answers.WriteString(body)

	out := logs.String()
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		lines++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		for _, key := range []string{"delivery", "event", "repo"} {
			if _, ok := rec[key]; !ok {
				t.Errorf("log line lacks %q: %s", key, sc.Text())
			}
		}
	}
	if lines < len(requests)+2 {
		t.Fatalf("got %d log lines for %d requests; want one each at least:\n%s", lines, len(requests)+2, out)
	}
	for _, secret := range [][]byte{oldSecret, newSecret, otherSecret, projectSecret, apiSecret} {
		for _, form := range []string{string(secret), hex.EncodeToString(secret)} {
			if strings.Contains(out, form) {
				t.Errorf("logs contain a secret (%d bytes)", len(secret))
			}
			if strings.Contains(answers.String(), form) {
				t.Errorf("answers contain a secret (%d bytes)", len(secret))
			}
		}
	}
	if !strings.Contains(out, `"delivery":"d-unwatched"`) || !strings.Contains(out, `"repo":"`+helloWorld+`"`) {
		t.Errorf("logs do not name the delivery and repository:\n%s", out)
	}
}
