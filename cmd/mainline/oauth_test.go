package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/providers/github/githubtest"
)

const testOAuthSecret = "oauth-secret-do-not-print-0123456789"

func TestGitHubOAuthSettings(t *testing.T) {
	base := map[string]string{"MAINLINE_DATA_DIR": t.TempDir()}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // substring; "" for success
		check   func(t *testing.T, s settings)
	}{
		{"not configured", nil, "", func(t *testing.T, s settings) {
			if a, _ := s.githubAuth(); a != nil {
				t.Errorf("githubAuth() = %+v, want nil", a)
			}
		}},
		{"orgs and teams", map[string]string{
			"MAINLINE_GITHUB_OAUTH_CLIENT_ID": "Iv1.abc", "MAINLINE_GITHUB_OAUTH_CLIENT_SECRET": testOAuthSecret,
			"MAINLINE_GITHUB_OAUTH_ORGS": "octo-org, other-org", "MAINLINE_GITHUB_OAUTH_TEAMS": "octo-org/deployers",
			"MAINLINE_PUBLIC_URL": "https://mainline.example.com/",
		}, "", func(t *testing.T, s settings) {
			a, err := s.githubAuth()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(a.AllowedOrgs, "|"); got != "octo-org|other-org" {
				t.Errorf("AllowedOrgs %q, want octo-org|other-org", got)
			}
			if got := strings.Join(a.AllowedTeams, "|"); got != "octo-org/deployers" {
				t.Errorf("AllowedTeams %q, want octo-org/deployers", got)
			}
			if a.RedirectURL != "https://mainline.example.com/auth/github/callback" {
				t.Errorf("RedirectURL %q", a.RedirectURL)
			}
			if a.AuthURL != "" || a.APIBase != "" {
				t.Errorf("AuthURL %q, APIBase %q; want github.com's defaults", a.AuthURL, a.APIBase)
			}
		}},
		{"enterprise", map[string]string{
			"MAINLINE_GITHUB_OAUTH_CLIENT_ID": "Iv1.abc", "MAINLINE_GITHUB_OAUTH_CLIENT_SECRET": testOAuthSecret,
			"MAINLINE_GITHUB_OAUTH_TEAMS": "octo-org/deployers", "MAINLINE_GITHUB_URL": "https://ghe.example.com/api/v3/",
		}, "", func(t *testing.T, s settings) {
			a, err := s.githubAuth()
			if err != nil {
				t.Fatal(err)
			}
			if a.AuthURL != "https://ghe.example.com/login/oauth/authorize" || a.TokenURL != "https://ghe.example.com/login/oauth/access_token" ||
				a.APIBase != "https://ghe.example.com/api/v3/" {
				t.Errorf("AuthURL %q, TokenURL %q, APIBase %q; want ghe.example.com's", a.AuthURL, a.TokenURL, a.APIBase)
			}
		}},
		{"no org or team", map[string]string{
			"MAINLINE_GITHUB_OAUTH_CLIENT_ID": "Iv1.abc", "MAINLINE_GITHUB_OAUTH_CLIENT_SECRET": testOAuthSecret,
		}, "every GitHub user", nil},
		{"no secret", map[string]string{
			"MAINLINE_GITHUB_OAUTH_CLIENT_ID": "Iv1.abc", "MAINLINE_GITHUB_OAUTH_ORGS": "octo-org",
		}, "MAINLINE_GITHUB_OAUTH_CLIENT_SECRET", nil},
		{"orgs only", map[string]string{"MAINLINE_GITHUB_OAUTH_ORGS": "octo-org"}, "MAINLINE_GITHUB_OAUTH_CLIENT_ID", nil},
		{"bad team", map[string]string{
			"MAINLINE_GITHUB_OAUTH_CLIENT_ID": "Iv1.abc", "MAINLINE_GITHUB_OAUTH_CLIENT_SECRET": testOAuthSecret,
			"MAINLINE_GITHUB_OAUTH_TEAMS": "deployers",
		}, "org/team-slug", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			s, err := loadSettings(func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadSettings: %v, want an error about %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testOAuthSecret) {
					t.Error("the error carries the client secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("loadSettings: %v", err)
			}
			tt.check(t, s)
		})
	}
}

// TestServeGitHubOAuth: serve's wiring offers GitHub sign-in from the
// settings, against the GitHub fake as an Enterprise server.
func TestServeGitHubOAuth(t *testing.T) {
	ctx := context.Background()
	gh := githubtest.New(t)
	gh.AddOrgMember("octo-org", "octocat")
	gh.SignInAs("octocat")

	var logs bytes.Buffer
	env := map[string]string{
		"MAINLINE_DATA_DIR":                   t.TempDir(),
		"MAINLINE_GITHUB_URL":                 gh.BaseURL(),
		"MAINLINE_GITHUB_OAUTH_CLIENT_ID":     "Iv1.abc",
		"MAINLINE_GITHUB_OAUTH_CLIENT_SECRET": testOAuthSecret,
		"MAINLINE_GITHUB_OAUTH_ORGS":          "octo-org",
	}
	ts := httptest.NewUnstartedServer(nil)
	env["MAINLINE_PUBLIC_URL"] = "http://" + ts.Listener.Addr().String()
	s, err := loadSettings(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(ctx, s, slog.New(slog.NewTextHandler(&logs, nil)), controller.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	ts.Config.Handler = srv.handler
	ts.Start()
	defer ts.Close()
	gh.AddOAuthApp("Iv1.abc", testOAuthSecret, ts.URL+"/auth/github/callback")

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(ts.URL + "/auth/github/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Signed in as user:octocat") {
		t.Fatalf("GitHub sign-in: status %d, want 200 signed in as user:octocat\n%s", resp.StatusCode, body)
	}
	resp, err = c.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Signed in as <strong>user:octocat</strong>") {
		t.Errorf("the overview does not show user:octocat signed in:\n%s", body)
	}
	for _, secret := range append(gh.AccessTokens(), testOAuthSecret) {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log carries the secret %.8s…", secret)
		}
	}
}
