package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mainline-cd/mainline/web"
)

// oauthSettings configure the dashboard's "Sign in with GitHub"
// (MAINLINE_GITHUB_OAUTH_*). All empty: only API-token sign-in.
type oauthSettings struct {
	ClientID     string   // MAINLINE_GITHUB_OAUTH_CLIENT_ID
	ClientSecret string   // MAINLINE_GITHUB_OAUTH_CLIENT_SECRET
	Orgs         []string // MAINLINE_GITHUB_OAUTH_ORGS: organisations whose members may sign in
	Teams        []string // MAINLINE_GITHUB_OAUTH_TEAMS: org/team-slug teams whose members may sign in
}

func loadOAuthSettings(getenv func(string) string) oauthSettings {
	return oauthSettings{
		ClientID:     strings.TrimSpace(getenv("MAINLINE_GITHUB_OAUTH_CLIENT_ID")),
		ClientSecret: strings.TrimSpace(getenv("MAINLINE_GITHUB_OAUTH_CLIENT_SECRET")),
		Orgs:         commaList(getenv("MAINLINE_GITHUB_OAUTH_ORGS")),
		Teams:        commaList(getenv("MAINLINE_GITHUB_OAUTH_TEAMS")),
	}
}

func commaList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// githubAuth returns the dashboard's GitHub sign-in, or nil when none is
// configured. Any MAINLINE_GITHUB_OAUTH_* variable set means GitHub
// sign-in is wanted, so a half configuration (above all, a client without
// any organisation or team, which would admit every GitHub user) is an
// error rather than silently something else. The error never carries the
// client secret.
func (s settings) githubAuth() (*web.GitHubAuth, error) {
	o := s.GitHubOAuth
	if o.ClientID == "" && o.ClientSecret == "" && len(o.Orgs) == 0 && len(o.Teams) == 0 {
		return nil, nil
	}
	if o.ClientID == "" || o.ClientSecret == "" {
		return nil, errors.New("MAINLINE_GITHUB_OAUTH_CLIENT_ID and MAINLINE_GITHUB_OAUTH_CLIENT_SECRET: both are needed for GitHub sign-in")
	}
	if len(o.Orgs) == 0 && len(o.Teams) == 0 {
		return nil, errors.New("MAINLINE_GITHUB_OAUTH_ORGS or MAINLINE_GITHUB_OAUTH_TEAMS: GitHub sign-in needs at least one organisation or team; without one every GitHub user could sign in")
	}
	a := &web.GitHubAuth{ClientID: o.ClientID, ClientSecret: o.ClientSecret, AllowedOrgs: o.Orgs, AllowedTeams: o.Teams}
	if s.GitHubURL != "" {
		// GitHub Enterprise Server: the API under /api/v3/, the OAuth
		// pages at the root of the same host.
		u, err := url.Parse(s.GitHubURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("MAINLINE_GITHUB_URL: want https://HOST/api/v3/, got %q", s.GitHubURL)
		}
		root := u.Scheme + "://" + u.Host
		a.AuthURL = root + "/login/oauth/authorize"
		a.TokenURL = root + "/login/oauth/access_token"
		a.APIBase = s.GitHubURL
	}
	if s.PublicURL != "" {
		a.RedirectURL = strings.TrimSuffix(s.PublicURL, "/") + "/auth/github/callback"
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("MAINLINE_GITHUB_OAUTH_*: %w", err)
	}
	return a, nil
}
