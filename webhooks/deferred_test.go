package webhooks_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/webhooks"
)

// TestDeferredWake: a Waker that defers (a follower replica) leaves the
// delivery pending for the leader, answers 202, and logs no error.
func TestDeferredWake(t *testing.T) {
	st := openSQLite(t)
	h, w := newHandler(st)
	w.err = fmt.Errorf("follower: %w", webhooks.ErrDeferred)
	var logs bytes.Buffer
	h.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	d := delivery{ID: "deferred-1", Event: "push", Payload: readFixture(t, branchPush), Secret: newSecret}
	if code, body := serve(h, d.request(endpoint)); code != http.StatusAccepted {
		t.Fatalf("answer %d %s, want 202", code, body)
	}
	if got := pending(t, st); len(got) != 1 || got[0].ID != "deferred-1" {
		t.Errorf("pending = %v, want the deferred delivery", got)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a deferred wake was logged as an error:\n%s", logs.String())
	}
}
