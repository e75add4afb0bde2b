package web

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"golang.org/x/oauth2"
)

// oauthCookie binds a GitHub sign-in to the browser that started it: the
// state sent to GitHub, when it expires and where to go afterwards, signed.
// It is SameSite=Lax, not Strict, because it must come back on the
// top-level navigation from GitHub to the callback.
const oauthCookie = "mainline_oauth"

// oauthStateTTL is how long a browser has to come back from GitHub.
const oauthStateTTL = 10 * time.Minute

// GitHubAuth configures sign-in with GitHub's OAuth web flow. Only members
// of AllowedOrgs or active members of AllowedTeams may sign in; they act as
// "user:<login>". Mainline asks for the read:org scope, uses the access
// token only to read who the user is and their memberships, and then
// forgets it: it is never put in a cookie, a log line or a page.
type GitHubAuth struct {
	ClientID     string
	ClientSecret string
	// AuthURL and TokenURL are the OAuth endpoints (default github.com's);
	// for GitHub Enterprise Server, https://HOST/login/oauth/authorize and
	// https://HOST/login/oauth/access_token.
	AuthURL, TokenURL string
	// APIBase is the REST API's base URL (default https://api.github.com/;
	// for GitHub Enterprise Server, https://HOST/api/v3/).
	APIBase string
	// RedirectURL is the callback registered with the OAuth app, ending in
	// /auth/github/callback. Empty: derived from each request's host.
	RedirectURL string
	// AllowedOrgs are organisation logins whose members may sign in.
	AllowedOrgs []string
	// AllowedTeams are teams, as "org/team-slug", whose active members may
	// sign in.
	AllowedTeams []string
	// HTTPClient carries the requests to GitHub; nil is
	// http.DefaultClient.
	HTTPClient *http.Client
}

// Validate reports whether g can be used. It refuses a configuration that
// names no organisation or team: that would let anyone with a GitHub
// account act on the dashboard.
func (g *GitHubAuth) Validate() error {
	if g.ClientID == "" || g.ClientSecret == "" {
		return errors.New("GitHub sign-in: a client ID and a client secret are both needed")
	}
	if len(g.AllowedOrgs) == 0 && len(g.AllowedTeams) == 0 {
		return errors.New("GitHub sign-in: no organisation or team is allowed; refusing to let every GitHub user sign in (configure allowed organisations or teams)")
	}
	for _, o := range g.AllowedOrgs {
		if o == "" || strings.Contains(o, "/") {
			return fmt.Errorf("GitHub sign-in: organisation %q: want an organisation login", o)
		}
	}
	for _, t := range g.AllowedTeams {
		org, slug, ok := strings.Cut(t, "/")
		if !ok || org == "" || slug == "" || strings.Contains(slug, "/") {
			return fmt.Errorf("GitHub sign-in: team %q: want org/team-slug", t)
		}
	}
	return nil
}

// required says in words who may sign in, for the refusal page.
func (g *GitHubAuth) required() string {
	var parts []string
	if len(g.AllowedOrgs) > 0 {
		parts = append(parts, "a member of the organisation(s) "+strings.Join(g.AllowedOrgs, ", "))
	}
	if len(g.AllowedTeams) > 0 {
		parts = append(parts, "an active member of the team(s) "+strings.Join(g.AllowedTeams, ", "))
	}
	return strings.Join(parts, ", or ")
}

func (g *GitHubAuth) config(r *http.Request, secure bool) *oauth2.Config {
	ep := oauth2.Endpoint{
		AuthURL:   or(g.AuthURL, "https://github.com/login/oauth/authorize"),
		TokenURL:  or(g.TokenURL, "https://github.com/login/oauth/access_token"),
		AuthStyle: oauth2.AuthStyleInParams,
	}
	redirect := g.RedirectURL
	if redirect == "" {
		scheme := "http"
		if secure || r.TLS != nil {
			scheme = "https"
		}
		redirect = scheme + "://" + r.Host + "/auth/github/callback"
	}
	return &oauth2.Config{ClientID: g.ClientID, ClientSecret: g.ClientSecret, Endpoint: ep,
		RedirectURL: redirect, Scopes: []string{"read:org"}}
}

func (g *GitHubAuth) httpClient() *http.Client {
	if g.HTTPClient != nil {
		return g.HTTPClient
	}
	return http.DefaultClient
}

// allowed reports whether login is a member of an allowed organisation or
// an active member of an allowed team, asking GitHub as the user.
func (g *GitHubAuth) allowed(ctx context.Context, c *github.Client, login string) (bool, error) {
	for _, org := range g.AllowedOrgs {
		ok, _, err := c.Organizations.IsMember(ctx, org, login)
		if err != nil {
			return false, fmt.Errorf("membership of %s: %w", org, err)
		}
		if ok {
			return true, nil
		}
	}
	for _, t := range g.AllowedTeams {
		org, slug, _ := strings.Cut(t, "/")
		m, resp, err := c.Teams.GetTeamMembershipBySlug(ctx, org, slug, login)
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("membership of team %s: %w", t, err)
		}
		if m.GetState() == "active" {
			return true, nil
		}
	}
	return false, nil
}

// githubLogin sends the browser to GitHub's authorize page with a fresh
// state, remembered in a signed cookie.
func (s *Server) githubLogin(w http.ResponseWriter, r *http.Request) {
	state := randomHex(16)
	exp := strconv.FormatInt(s.Clock.Now().Add(oauthStateTTL).Unix(), 10)
	payload := base64.RawURLEncoding.EncodeToString([]byte(state + "\x00" + exp + "\x00" + safeNext(r.FormValue("next"))))
	sig := base64.RawURLEncoding.EncodeToString(s.mac("oauth-state", payload))
	http.SetCookie(w, &http.Cookie{
		Name:     oauthCookie,
		Value:    payload + "." + sig,
		Path:     "/auth/github/",
		MaxAge:   int(oauthStateTTL / time.Second),
		HttpOnly: true,
		Secure:   s.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.github.config(r, s.SecureCookies).AuthCodeURL(state), http.StatusFound)
}

// oauthState checks the state cookie's signature and expiry and returns
// the state and the page to go to afterwards.
func (s *Server) oauthState(r *http.Request) (state, next string, ok bool) {
	c, err := r.Cookie(oauthCookie)
	if err != nil {
		return "", "", false
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return "", "", false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !subtleEqual(got, s.mac("oauth-state", payload)) {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", "", false
	}
	parts := strings.SplitN(string(raw), "\x00", 3)
	if len(parts) != 3 {
		return "", "", false
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || s.Clock.Now().After(time.Unix(n, 0)) {
		return "", "", false
	}
	return parts[0], safeNext(parts[2]), parts[0] != ""
}

func subtleEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// githubCallback finishes a GitHub sign-in: it checks the state against
// the cookie, exchanges the code for a token, asks GitHub who the user is
// and whether they belong to an allowed organisation or team, and signs
// them in with the same session cookie as token sign-in.
//
// On success it answers with a page that refreshes to where the user was
// going, rather than a redirect: the session cookie is SameSite=Strict,
// and a browser does not send it on a redirect chain that GitHub started.
func (s *Server) githubCallback(w http.ResponseWriter, r *http.Request) {
	g := s.github
	state, next, ok := s.oauthState(r)
	http.SetCookie(w, &http.Cookie{Name: oauthCookie, Value: "", Path: "/auth/github/", MaxAge: -1,
		HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	q := r.URL.Query()
	if q.Get("error") != "" {
		// The user declined on GitHub (error=access_denied) or the app is
		// misconfigured; the description is GitHub's, not a secret.
		s.Logger.Info("github sign-in declined", "error", q.Get("error"))
		s.renderMessage(w, r, http.StatusForbidden, "Not signed in", "GitHub did not sign you in: "+q.Get("error")+".", "/signin")
		return
	}
	if !ok || q.Get("state") == "" || !subtleEqual([]byte(q.Get("state")), []byte(state)) {
		s.renderMessage(w, r, http.StatusBadRequest, "Sign-in expired",
			"This sign-in was not started from this browser or took too long; please sign in again.", "/signin")
		return
	}
	code := q.Get("code")
	if code == "" {
		s.renderMessage(w, r, http.StatusBadRequest, "Sign-in failed", "GitHub sent no authorization code; please sign in again.", "/signin")
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, g.httpClient())
	conf := g.config(r, s.SecureCookies)
	tok, err := conf.Exchange(ctx, code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// Only GitHub's error code: the body is GitHub's to word.
			s.Logger.Warn("github sign-in: code exchange refused", "error", re.ErrorCode)
		} else {
			s.Logger.Error("github sign-in: code exchange", "err", err)
		}
		s.renderMessage(w, r, http.StatusForbidden, "Sign-in failed",
			"GitHub did not accept this sign-in (the code may have been used already or expired); please sign in again.", "/signin")
		return
	}
	c := github.NewClient(conf.Client(ctx, tok))
	if g.APIBase != "" {
		if c, err = c.WithEnterpriseURLs(g.APIBase, g.APIBase); err != nil {
			s.Logger.Error("github sign-in: API base", "err", err)
			s.renderMessage(w, r, http.StatusInternalServerError, "Sign-in failed", "Sign-in failed; see the server log.", "/signin")
			return
		}
	}
	u, _, err := c.Users.Get(ctx, "")
	if err != nil || u.GetLogin() == "" {
		s.Logger.Error("github sign-in: reading the user", "err", err)
		s.renderMessage(w, r, http.StatusBadGateway, "Sign-in failed", "GitHub did not say who you are; please try again.", "/signin")
		return
	}
	login := u.GetLogin()
	allowed, err := g.allowed(ctx, c, login)
	if err != nil {
		s.Logger.Error("github sign-in: checking membership", "login", login, "err", err)
		s.renderMessage(w, r, http.StatusBadGateway, "Sign-in failed", "GitHub did not answer whether you may sign in; please try again.", "/signin")
		return
	}
	if !allowed {
		s.Logger.Info("github sign-in refused: not a member", "login", login)
		s.renderMessage(w, r, http.StatusForbidden, "Not allowed",
			"GitHub user "+login+" may not sign in here: you need to be "+g.required()+".", "")
		return
	}
	who := "user:" + login
	s.Logger.Info("signed in with GitHub", "who", who)
	session := s.newSession(who)
	s.setCookie(w, sessionCookie, session, s.SessionTTL)
	w.Header().Set("Refresh", "0; url="+next)
	s.render(w, r, http.StatusOK, "message", &pageData{Title: "Signed in",
		Who:  principal{name: who, viaSession: true, session: session},
		Data: map[string]any{"Message": "Signed in as " + who + ".", "Link": next}})
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
