package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers/github/githubtest"
	"github.com/mainline-cd/mainline/web"
)

const (
	oauthClientID     = "Iv1.0123456789abcdef"
	oauthClientSecret = "oauth-client-secret-0123456789abcdef0123"
)

// oauthEnv is a dashboard with GitHub sign-in against the GitHub fake. Every
// response the dashboard sends is recorded, to look for leaked secrets.
type oauthEnv struct {
	*env
	gh *githubtest.Server
	ts *httptest.Server

	mu   sync.Mutex
	seen bytes.Buffer // every dashboard response's headers and body
}

func newOAuthEnv(t *testing.T, orgs, teams []string) *oauthEnv {
	t.Helper()
	e := &oauthEnv{env: newEnv(t, false), gh: githubtest.New(t)}
	e.srv.GitHub = &web.GitHubAuth{
		ClientID:     oauthClientID,
		ClientSecret: oauthClientSecret,
		AuthURL:      e.gh.URL + "/login/oauth/authorize",
		TokenURL:     e.gh.URL + "/login/oauth/access_token",
		APIBase:      e.gh.BaseURL(),
		AllowedOrgs:  orgs,
		AllowedTeams: teams,
		HTTPClient:   e.gh.HTTPClient(),
	}
	e.ts = e.server()
	e.gh.AddOAuthApp(oauthClientID, oauthClientSecret, e.ts.URL+"/auth/github/callback")
	return e
}

// recorder keeps what the dashboard answers (not GitHub's answers, which
// rightly carry the token).
type recorder struct {
	e    *oauthEnv
	next http.RoundTripper
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.String(), r.e.ts.URL) {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	resp.Header.Write(&r.e.seen)
	r.e.seen.Write(b)
	return resp, nil
}

// browser is a client with a cookie jar that follows redirects, as a
// browser does, across the dashboard and the GitHub fake.
func (e *oauthEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: recorder{e: e, next: http.DefaultTransport}}
}

// noFollow is a client with a cookie jar that stops at the first redirect.
func (e *oauthEnv) noFollow() *http.Client {
	c := e.browser()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func (e *oauthEnv) do(c *http.Client, u string) (int, string) {
	e.t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// callbackURL starts a sign-in with c and walks it through GitHub up to,
// not including, the callback, which it returns.
func (e *oauthEnv) callbackURL(c *http.Client) *url.URL {
	e.t.Helper()
	resp, err := c.Get(e.ts.URL + "/auth/github/login?next=/delivery")
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("login: status %d, want 302", resp.StatusCode)
	}
	resp, err = c.Get(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(u.String(), e.ts.URL+"/auth/github/callback") {
		e.t.Fatalf("authorize: status %d to %q, want 302 to the callback", resp.StatusCode, u)
	}
	return u
}

// signedInAs reads who the overview says is signed in ("" for nobody).
func (e *oauthEnv) signedInAs(c *http.Client) string {
	e.t.Helper()
	_, body := e.do(c, e.ts.URL+"/delivery")
	_, who, ok := strings.Cut(body, "Signed in as <strong>")
	if !ok {
		return ""
	}
	who, _, _ = strings.Cut(who, "</strong>")
	return who
}

func hasSession(t *testing.T, resp *http.Response) bool {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == "mainline_session" && ck.Value != "" {
			return true
		}
	}
	return false
}

// checkNoLeaks fails if the client secret or an access token GitHub issued
// appears in a dashboard response (page or cookie) or a log line.
func (e *oauthEnv) checkNoLeaks(t *testing.T) {
	t.Helper()
	tokens := e.gh.AccessTokens()
	if len(tokens) == 0 {
		t.Fatal("GitHub issued no access token; the leak check would check nothing")
	}
	e.mu.Lock()
	seen := e.seen.String()
	e.mu.Unlock()
	if !strings.Contains(seen, "mainline_session=") {
		t.Fatal("no session cookie recorded; the leak check would check nothing")
	}
	for _, secret := range append(tokens, oauthClientSecret) {
		if strings.Contains(seen, secret) {
			t.Errorf("a dashboard response carries the secret %.8s…", secret)
		}
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log carries the secret %.8s…", secret)
		}
	}
}

func TestGitHubOAuthSignIn(t *testing.T) {
	e := newOAuthEnv(t, []string{"octo-org"}, nil)
	e.gh.AddOrgMember("octo-org", "octocat")
	e.gh.AddOrgMember("elsewhere", "mallory")

	t.Run("sign-in page offers GitHub", func(t *testing.T) {
		_, body := e.do(e.browser(), e.ts.URL+"/signin")
		if !strings.Contains(body, "Sign in with GitHub") || !strings.Contains(body, `action="/auth/github/login"`) {
			t.Errorf("the sign-in page does not offer GitHub sign-in:\n%s", body)
		}
	})

	t.Run("org member signs in and acts", func(t *testing.T) {
		e.gh.SignInAs("octocat")
		c := e.browser()
		code, body := e.do(c, e.ts.URL+"/auth/github/login?next=/projects/octo-org/orders")
		if code != http.StatusOK || !strings.Contains(body, "Signed in as user:octocat") {
			t.Fatalf("callback: status %d, want 200 signed in as user:octocat\n%s", code, body)
		}
		if got := e.signedInAs(c); got != "user:octocat" {
			t.Errorf("signed in as %q, want user:octocat", got)
		}
		_, page := e.do(c, e.ts.URL+"/projects/octo-org/orders")
		m := csrfRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no CSRF token on the project page after GitHub sign-in")
		}
		resp, err := c.PostForm(e.ts.URL+"/projects/octo-org/orders/-/deploy", url.Values{"version": {"0.3.14"}, "csrf": {m[1]}, "confirmed": {"1"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		p, _ := e.projectState("octo-org/orders")
		if p.Pinned != "0.3.14" {
			t.Fatalf("pinned %q after deploying 0.3.14 (status %d)", p.Pinned, resp.StatusCode)
		}
		evs, err := e.st.Events(context.Background(), store.EventQuery{ProjectID: p.ID, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || !strings.Contains(evs[0].Message, "user:octocat") {
			t.Errorf("newest event %+v, want one naming user:octocat", evs)
		}
		// Without the CSRF token the same session can do nothing.
		resp, err = c.PostForm(e.ts.URL+"/projects/octo-org/orders/-/deploy", url.Values{"version": {"0.3.15"}, "confirmed": {"1"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("deploy without CSRF: status %d, want 403", resp.StatusCode)
		}
	})

	t.Run("non-member is refused", func(t *testing.T) {
		e.gh.SignInAs("mallory")
		c := e.browser()
		code, body := e.do(c, e.ts.URL+"/auth/github/login")
		if code != http.StatusForbidden {
			t.Errorf("status %d, want 403", code)
		}
		if !strings.Contains(body, "octo-org") || !strings.Contains(body, "mallory") {
			t.Errorf("the refusal does not say who and which organisation is required:\n%s", body)
		}
		if got := e.signedInAs(c); got != "" {
			t.Errorf("signed in as %q, want nobody", got)
		}
	})

	tampered := []struct {
		name  string
		edit  func(u *url.URL) *url.URL
		fresh bool // the callback comes to a browser that did not start the sign-in
	}{
		{"wrong state", func(u *url.URL) *url.URL { return withQuery(u, "state", "0123456789abcdef0123456789abcdef") }, false},
		{"missing state", func(u *url.URL) *url.URL { return withQuery(u, "state", "") }, false},
		{"another browser", func(u *url.URL) *url.URL { return u }, true},
	}
	for _, tt := range tampered {
		t.Run(tt.name, func(t *testing.T) {
			e.gh.SignInAs("octocat")
			c := e.noFollow()
			u := tt.edit(e.callbackURL(c))
			if tt.fresh {
				c = e.noFollow()
			}
			resp, err := c.Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			if hasSession(t, resp) {
				t.Error("a session cookie was set")
			}
		})
	}

	t.Run("replayed code", func(t *testing.T) {
		e.gh.SignInAs("octocat")
		first := e.noFollow()
		u := e.callbackURL(first)
		resp, err := first.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !hasSession(t, resp) {
			t.Fatalf("first use of the code: status %d, session %t; want 200 and a session", resp.StatusCode, hasSession(t, resp))
		}
		// Another browser starts its own sign-in and brings the used code
		// with its own, valid state.
		other := e.noFollow()
		own := e.callbackURL(other)
		replay := withQuery(own, "code", u.Query().Get("code"))
		resp, err = other.Get(replay.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || hasSession(t, resp) {
			t.Errorf("replayed code: status %d, session %t; want 403 and no session", resp.StatusCode, hasSession(t, resp))
		}
	})

	t.Run("no secrets leak", e.checkNoLeaks)
}

func withQuery(u *url.URL, k, v string) *url.URL {
	c := *u
	q := c.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	c.RawQuery = q.Encode()
	return &c
}

func TestGitHubOAuthTeams(t *testing.T) {
	e := newOAuthEnv(t, nil, []string{"octo-org/deployers"})
	e.gh.AddTeamMember("octo-org", "deployers", "hubot", "active")
	e.gh.AddTeamMember("octo-org", "deployers", "newbie", "pending")
	e.gh.AddTeamMember("octo-org", "readers", "reader", "active")

	tests := []struct {
		login string
		want  int
		who   string
	}{
		{"hubot", http.StatusOK, "user:hubot"},
		{"newbie", http.StatusForbidden, ""},
		{"reader", http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			e.gh.SignInAs(tt.login)
			c := e.browser()
			code, body := e.do(c, e.ts.URL+"/auth/github/login")
			if code != tt.want {
				t.Errorf("status %d, want %d\n%s", code, tt.want, body)
			}
			if code == http.StatusForbidden && !strings.Contains(body, "octo-org/deployers") {
				t.Errorf("the refusal does not name the team required:\n%s", body)
			}
			if got := e.signedInAs(c); got != tt.who {
				t.Errorf("signed in as %q, want %q", got, tt.who)
			}
		})
	}
	t.Run("no secrets leak", e.checkNoLeaks)
}

func TestGitHubOAuthConfig(t *testing.T) {
	tests := []struct {
		name string
		auth web.GitHubAuth
		ok   bool
	}{
		{"org", web.GitHubAuth{ClientID: "id", ClientSecret: "s", AllowedOrgs: []string{"octo-org"}}, true},
		{"team", web.GitHubAuth{ClientID: "id", ClientSecret: "s", AllowedTeams: []string{"octo-org/deployers"}}, true},
		{"nobody allowed", web.GitHubAuth{ClientID: "id", ClientSecret: "s"}, false},
		{"no secret", web.GitHubAuth{ClientID: "id", AllowedOrgs: []string{"octo-org"}}, false},
		{"team without org", web.GitHubAuth{ClientID: "id", ClientSecret: "s", AllowedTeams: []string{"deployers"}}, false},
		{"org with slash", web.GitHubAuth{ClientID: "id", ClientSecret: "s", AllowedOrgs: []string{"octo-org/x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.auth.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%t", err, tt.ok)
			}
			// A server given a configuration that does not validate does
			// not offer GitHub sign-in at all.
			e := newEnv(t, false)
			auth := tt.auth
			e.srv.GitHub = &auth
			ts := e.server()
			c := e.client()
			want := http.StatusFound
			if !tt.ok {
				want = http.StatusNotFound
			}
			resp, err := c.Get(ts.URL + "/auth/github/login")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET /auth/github/login: status %d, want %d", resp.StatusCode, want)
			}
		})
	}
}
