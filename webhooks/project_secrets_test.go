package webhooks_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/webhooks"
)

var (
	projectSecret         = []byte("project-secret-7a3e91c4")
	projectPreviousSecret = []byte("project-previous-2c8d05f6")
	apiSecret             = []byte("api-secret-e41b6f09")
)

// projectSecrets is a Handler.ProjectSecrets over a fixed map.
func projectSecrets(byRepo map[string][][]byte) func(context.Context, string) ([][]byte, error) {
	return func(_ context.Context, repo string) ([][]byte, error) {
		return byRepo[repo], nil
	}
}

// A delivery is accepted when a global secret or one of its repository's
// own secrets signs it; another repository's secret or an unknown one is
// refused 401 and nothing is stored.
func TestHandlerProjectSecrets(t *testing.T) {
	push := readFixture(t, branchPush) // Codertocat/Hello-World
	tests := []struct {
		name    string
		global  [][]byte
		secret  []byte
		form    bool
		want    int
		wantErr string
	}{
		{name: "project secret", secret: projectSecret, want: http.StatusAccepted},
		{name: "project secret, form body", secret: projectSecret, form: true, want: http.StatusAccepted},
		{name: "previous project secret during rotation", secret: projectPreviousSecret, want: http.StatusAccepted},
		{name: "another project's secret", secret: apiSecret, want: http.StatusUnauthorized},
		{name: "unknown secret", secret: otherSecret, want: http.StatusUnauthorized},
		{name: "unsigned", want: http.StatusUnauthorized},
		{name: "global secret still valid", global: [][]byte{oldSecret}, secret: oldSecret, want: http.StatusAccepted},
		{name: "project secret besides a global one", global: [][]byte{oldSecret}, secret: projectSecret, want: http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openSQLite(t)
			h, waker := newHandler(st)
			h.Secrets = tt.global
			h.ProjectSecrets = projectSecrets(map[string][][]byte{
				helloWorld:     {projectSecret, projectPreviousSecret},
				"octo-org/api": {apiSecret},
			})
			code, body := serve(h, delivery{ID: "d-1", Event: "push", Payload: push, Form: tt.form, Secret: tt.secret}.request(endpoint))
			if code != tt.want {
				t.Fatalf("status = %d (%s), want %d", code, body, tt.want)
			}
			stored := deliveryStored(t, st, "d-1")
			if accepted := tt.want == http.StatusAccepted; stored != accepted {
				t.Errorf("delivery stored = %v, want %v", stored, accepted)
			}
			if tt.want == http.StatusAccepted {
				if got := waker.Calls(); len(got) != 1 || got[0] != helloWorld {
					t.Errorf("woke %q, want [%s]", got, helloWorld)
				}
			} else if got := answerField(t, body, "code"); got != "bad_signature" {
				t.Errorf("code = %q, want bad_signature", got)
			}
		})
	}
}

// ProjectSecrets is asked about the repository the payload names, and only
// when no global secret signs the delivery.
func TestHandlerProjectSecretsAsked(t *testing.T) {
	push := readFixture(t, branchPush)
	var mu sync.Mutex
	var asked []string
	st := openSQLite(t)
	h, _ := newHandler(st)
	h.ProjectSecrets = func(_ context.Context, repo string) ([][]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, repo)
		return [][]byte{projectSecret}, nil
	}
	for _, d := range []delivery{
		{ID: "d-global", Event: "push", Payload: push, Secret: newSecret},
		{ID: "d-project", Event: "push", Payload: push, Secret: projectSecret},
		{ID: "d-no-repo", Event: "push", Payload: []byte(`{"ref":"refs/heads/x"}`), Secret: projectSecret},
		{ID: "d-bad-repo", Event: "push", Payload: []byte(`{"repository":{"full_name":"../x"}}`), Secret: projectSecret},
	} {
		serve(h, d.request(endpoint))
	}
	if len(asked) != 1 || asked[0] != helloWorld {
		t.Errorf("ProjectSecrets asked about %q, want [%s]", asked, helloWorld)
	}
	for _, id := range []string{"d-no-repo", "d-bad-repo"} {
		if deliveryStored(t, st, id) {
			t.Errorf("delivery %s without a valid repository was stored", id)
		}
	}
}

// Project secrets alone are enough: a Handler without global secrets
// accepts deliveries its projects sign, and answers 503 when their secrets
// cannot be read.
func TestHandlerOnlyProjectSecrets(t *testing.T) {
	push := readFixture(t, branchPush)
	st := openSQLite(t)
	h := &webhooks.Handler{Store: st, Clock: fixedClock{receivedAt},
		ProjectSecrets: projectSecrets(map[string][][]byte{helloWorld: {projectSecret}})}
	if code, body := serve(h, delivery{ID: "d-1", Event: "push", Payload: push, Secret: projectSecret}.request(endpoint)); code != http.StatusAccepted {
		t.Errorf("status = %d (%s), want 202", code, body)
	}
	h.ProjectSecrets = func(context.Context, string) ([][]byte, error) { return nil, errors.New("database down") }
	if code, body := serve(h, delivery{ID: "d-2", Event: "push", Payload: push, Secret: projectSecret}.request(endpoint)); code != http.StatusServiceUnavailable {
		t.Errorf("status with failing ProjectSecrets = %d (%s), want 503", code, body)
	}
	if deliveryStored(t, st, "d-2") {
		t.Error("delivery stored although its signature could not be checked")
	}
}
