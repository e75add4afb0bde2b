package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/controller/store"
)

// wakeUps returns the projects woken so far.
func (f *fakeController) wakeUps() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.woken...)
}

// verifyRequests returns the project's verify_requested events, newest
// first.
func (e *env) verifyRequests(name string) []store.Event {
	e.t.Helper()
	evs, err := e.st.Events(context.Background(), store.EventQuery{ProjectID: e.ids[name], Kind: "verify_requested", Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// TestVerifyForm: the project page's "Re-run verification" form needs a
// signed-in user (or an API token) and the page's CSRF token, asks for
// confirmation, and then only records a request naming who asked and
// wakes the project: the controller runs the suite.
func TestVerifyForm(t *testing.T) {
	e := newEnv(t, true)
	ts := e.server()
	signed := e.client()
	csrf := e.signIn(ts, signed)
	verifyURL := ts.URL + "/projects/octo-org/orders/-/verify"

	page := e.get(signed, ts.URL+"/projects/octo-org/orders", http.StatusOK)
	if !strings.Contains(page, `action="/projects/octo-org/orders/-/verify"`) || !strings.Contains(page, "Re-run verification…") {
		t.Errorf("the project page of a signed-in user has no Re-run verification form")
	}

	tests := []struct {
		name   string
		client *http.Client
		form   url.Values
		bearer string
		want   int
		asks   bool // the answer is the confirmation page
		writes bool // a request is recorded and the project woken
	}{
		{"no session", e.client(), url.Values{"confirmed": {"1"}}, "", http.StatusUnauthorized, false, false},
		{"no session, made-up CSRF", e.client(), url.Values{"confirmed": {"1"}, "csrf": {csrf}}, "", http.StatusUnauthorized, false, false},
		{"bad bearer token", e.client(), url.Values{"confirmed": {"1"}}, "mlt_wrong", http.StatusUnauthorized, false, false},
		{"session, no CSRF", signed, url.Values{"confirmed": {"1"}}, "", http.StatusForbidden, false, false},
		{"session, bad CSRF", signed, url.Values{"confirmed": {"1"}, "csrf": {strings.Repeat("0", 64)}}, "", http.StatusForbidden, false, false},
		{"session, CSRF, not confirmed", signed, url.Values{"csrf": {csrf}}, "", http.StatusOK, true, false},
		{"session, CSRF, confirmed", signed, url.Values{"csrf": {csrf}, "confirmed": {"1"}}, "", http.StatusSeeOther, false, true},
		{"bearer token, confirmed", e.client(), url.Values{"confirmed": {"1"}}, tokenSecret, http.StatusSeeOther, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			beforeProject, beforeEvents := e.projectState("octo-org/orders")
			beforeRequests, beforeWoken := len(e.verifyRequests("octo-org/orders")), len(e.ctrl.wakeUps())
			req, _ := http.NewRequest("POST", verifyURL, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.want, body)
			}
			if tt.asks {
				for _, want := range []string{"Run the verification suite of octo-org/orders against the running version again?",
					`name="confirmed" value="1"`, `name="csrf" value="` + csrf + `"`, "Re-run verification"} {
					if !strings.Contains(string(body), want) {
						t.Errorf("confirmation page lacks %q", want)
					}
				}
			}
			afterProject, afterEvents := e.projectState("octo-org/orders")
			if afterProject != beforeProject {
				t.Errorf("the project changed: %+v → %+v", beforeProject, afterProject)
			}
			requests, woken := e.verifyRequests("octo-org/orders"), e.ctrl.wakeUps()
			if !tt.writes {
				if afterEvents != beforeEvents || len(woken) != beforeWoken {
					t.Errorf("events %d → %d, wake-ups %d → %d; want nothing written or woken", beforeEvents, afterEvents, beforeWoken, len(woken))
				}
				return
			}
			if len(requests) != beforeRequests+1 || afterEvents != beforeEvents+1 {
				t.Fatalf("verify_requested events %d → %d (all events %d → %d), want one more", beforeRequests, len(requests), beforeEvents, afterEvents)
			}
			if want := "verification of 0.3.15 requested by token:alice"; requests[0].Message != want {
				t.Errorf("request message %q, want %q", requests[0].Message, want)
			}
			if len(woken) != beforeWoken+1 || woken[len(woken)-1] != e.ids["octo-org/orders"] {
				t.Errorf("wake-ups %v, want project %d woken once more", woken, e.ids["octo-org/orders"])
			}
		})
	}
}

// TestVerifyAPI: POST /api/v1/projects/{name}/-/verify does what the form
// does, with the API's auth and JSON errors.
func TestVerifyAPI(t *testing.T) {
	e := newEnv(t, false)
	ts := e.server()
	api := ts.URL + "/api/v1/projects/"
	if _, err := e.st.CreateProject(context.Background(), store.Project{Name: "empty", SCM: "git", Location: "/srv/empty"}); err != nil {
		t.Fatal(err)
	}

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			path, bearer string
			status       int
			code         string
		}{
			{"octo-org/orders/-/verify", "", 401, "unauthorized"},
			{"octo-org/orders/-/verify", "mlt_wrong", 401, "invalid_token"},
			{"nope/-/verify", tokenSecret, 404, "not_found"},
			{"empty/-/verify", tokenSecret, 409, "nothing_deployed"},
		}
		for _, tt := range tests {
			before := len(e.verifyRequests("octo-org/orders"))
			code, out := apiDo(t, "POST", api+tt.path, tt.bearer, "")
			if code != tt.status || out["code"] != tt.code {
				t.Errorf("%s with %q: got %d %v, want %d %q", tt.path, tt.bearer, code, out, tt.status, tt.code)
			}
			if n := len(e.verifyRequests("octo-org/orders")); n != before {
				t.Errorf("%s with %q: %d requests recorded, want none", tt.path, tt.bearer, n-before)
			}
		}
		if w := e.ctrl.wakeUps(); len(w) != 0 {
			t.Errorf("wake-ups %v after refused requests, want none", w)
		}
	})

	t.Run("session without CSRF header", func(t *testing.T) {
		c := e.client()
		e.signIn(ts, c)
		req, _ := http.NewRequest("POST", api+"octo-org/orders/-/verify", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", resp.StatusCode)
		}
		if n := len(e.verifyRequests("octo-org/orders")); n != 0 {
			t.Errorf("%d requests recorded, want none", n)
		}
	})

	t.Run("accepted", func(t *testing.T) {
		code, out := apiDo(t, "POST", api+"shop/payments/-/verify", tokenSecret, "")
		if code != 200 {
			t.Fatalf("status %d: %v", code, out)
		}
		want := "verification of 0.9.2 requested by token:alice"
		if out["message"] != want {
			t.Errorf("message %v, want %q", out["message"], want)
		}
		if p, ok := out["project"].(map[string]any); !ok || p["name"] != "shop/payments" {
			t.Errorf("answer %v lacks the project", out)
		}
		reqs := e.verifyRequests("shop/payments")
		if len(reqs) != 1 || reqs[0].Message != want {
			t.Errorf("verify_requested events %+v, want one %q", reqs, want)
		}
		if w := e.ctrl.wakeUps(); len(w) != 1 || w[0] != e.ids["shop/payments"] {
			t.Errorf("wake-ups %v, want project %d", w, e.ids["shop/payments"])
		}
	})
}
