package githubtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/providers/github/githubtest"
)

// authorize walks the fake's authorize page and returns the code it hands
// back on the callback.
func authorize(t *testing.T, srv *githubtest.Server, clientID, state string) string {
	t.Helper()
	c := *srv.HTTPClient() // a copy: the fake's client is shared
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(srv.URL + "/login/oauth/authorize?" + url.Values{"client_id": {clientID}, "state": {state},
		"redirect_uri": {"http://127.0.0.1:1/auth/github/callback?x=1"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/auth/github/callback" || u.Query().Get("state") != state || u.Query().Get("x") != "1" {
		t.Fatalf("redirected to %s, want the callback with the state and its own query", u)
	}
	return u.Query().Get("code")
}

func exchange(t *testing.T, srv *githubtest.Server, secret, code, accept string) (string, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/login/oauth/access_token", strings.NewReader(url.Values{
		"client_id": {"app"}, "client_secret": {secret}, "code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("access_token: status %d, want 200 (GitHub answers errors with 200)", resp.StatusCode)
	}
	b, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
	} else {
		v, err := url.ParseQuery(string(b))
		if err != nil {
			t.Fatal(err)
		}
		for k := range v {
			out[k] = v.Get(k)
		}
	}
	return resp.Header.Get("Content-Type"), out
}

func TestOAuthWebFlow(t *testing.T) {
	srv := githubtest.New(t)
	srv.AddOAuthApp("app", "s3cret", "http://127.0.0.1:1/auth/github/")
	srv.AddOrgMember("octo-org", "octocat")
	srv.AddTeamMember("octo-org", "deployers", "octocat", "active")
	srv.AddOrgMember("octo-org", "other")
	srv.SignInAs("octocat")

	code := authorize(t, srv, "app", "st1")
	if _, got := exchange(t, srv, "wrong", code, "application/json"); got["error"] != "incorrect_client_credentials" {
		t.Errorf("wrong secret: %v, want error incorrect_client_credentials", got)
	}
	ct, got := exchange(t, srv, "s3cret", code, "application/json")
	if !strings.HasPrefix(ct, "application/json") || !strings.HasPrefix(got["access_token"], "gho_") || got["token_type"] != "bearer" {
		t.Fatalf("exchange: %s %v, want a JSON bearer token", ct, got)
	}
	token := got["access_token"]
	if _, again := exchange(t, srv, "s3cret", code, ""); again["error"] != "bad_verification_code" {
		t.Errorf("replayed code: %v, want error bad_verification_code", again)
	}
	ct, form := exchange(t, srv, "s3cret", authorize(t, srv, "app", "st2"), "")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") || form["access_token"] == "" {
		t.Errorf("exchange without Accept: %s %v, want a form-encoded token", ct, form)
	}
	if got := srv.AccessTokens(); len(got) != 2 || got[0] != token {
		t.Errorf("AccessTokens() = %d tokens, want 2 starting with the first issued", len(got))
	}

	ctx := context.Background()
	c := github.NewClient(srv.HTTPClient()).WithAuthToken(token)
	c, _ = c.WithEnterpriseURLs(srv.BaseURL(), srv.BaseURL())
	u, _, err := c.Users.Get(ctx, "")
	if err != nil || u.GetLogin() != "octocat" {
		t.Fatalf("GET /user = %v, %v; want octocat", u.GetLogin(), err)
	}
	orgs, _, err := c.Organizations.List(ctx, "", nil)
	if err != nil || len(orgs) != 1 || orgs[0].GetLogin() != "octo-org" {
		t.Errorf("GET /user/orgs = %v, %v; want octo-org", orgs, err)
	}
	members := []struct {
		org, login string
		want       bool
	}{{"octo-org", "octocat", true}, {"octo-org", "other", true}, {"octo-org", "stranger", false}, {"elsewhere", "octocat", false}}
	for _, m := range members {
		got, _, err := c.Organizations.IsMember(ctx, m.org, m.login)
		if err != nil || got != m.want {
			t.Errorf("IsMember(%s, %s) = %t, %v; want %t", m.org, m.login, got, err, m.want)
		}
	}
	ms, _, err := c.Teams.GetTeamMembershipBySlug(ctx, "octo-org", "deployers", "octocat")
	if err != nil || ms.GetState() != "active" || ms.GetRole() != "member" {
		t.Errorf("team membership = %+v, %v; want active member", ms, err)
	}
	if _, resp, _ := c.Teams.GetTeamMembershipBySlug(ctx, "octo-org", "deployers", "other"); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("team membership of a non-member: want 404")
	}
	anon, _ := srv.Client().WithEnterpriseURLs(srv.BaseURL(), srv.BaseURL())
	if _, _, err := anon.Users.Get(ctx, ""); status(err) != http.StatusUnauthorized {
		t.Errorf("GET /user without a token: %v, want 401", err)
	}
}
