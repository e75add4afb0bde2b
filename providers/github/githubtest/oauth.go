package githubtest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// oauthApp is a registered OAuth app.
type oauthApp struct {
	secret   string
	callback string // the registered callback URL; redirect_uri must be under it
}

// oauthCode is an authorization code GitHub's authorize page handed out.
type oauthCode struct {
	clientID string
	login    string
	redirect string
	expires  time.Time
	used     bool
}

// teamKey names a team: "org/slug", lower case.
func teamKey(org, slug string) string { return strings.ToLower(org + "/" + slug) }

// AddOAuthApp registers an OAuth app, so that the web flow's endpoints
// (GET /login/oauth/authorize, POST /login/oauth/access_token, served at
// the fake's root as GitHub Enterprise Server does) accept clientID and
// clientSecret. A redirect_uri must start with callbackURL, as GitHub
// requires; an empty redirect_uri means callbackURL.
func (s *Server) AddOAuthApp(clientID, clientSecret, callbackURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[clientID] = oauthApp{secret: clientSecret, callback: callbackURL}
}

// AddUser adds a GitHub user with the given login and no memberships.
func (s *Server) AddUser(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUser(login)
}

func (s *Server) addUser(login string) *user {
	k := strings.ToLower(login)
	if u := s.users[k]; u != nil {
		return u
	}
	u := &user{id: s.id(), login: login, orgs: map[string]bool{}, teams: map[string]string{}}
	s.users[k] = u
	return u
}

// AddOrgMember makes login (added if new) a member of org.
func (s *Server) AddOrgMember(org, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUser(login).orgs[strings.ToLower(org)] = true
	s.orgNames[strings.ToLower(org)] = org
}

// AddTeamMember makes login (added if new) a member of the team org/slug
// with state "active" or "pending" (an invitation not yet accepted). A team
// member is also made a member of org when state is "active".
func (s *Server) AddTeamMember(org, slug, login, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.addUser(login)
	u.teams[teamKey(org, slug)] = state
	if state == "active" {
		u.orgs[strings.ToLower(org)] = true
	}
	s.orgNames[strings.ToLower(org)] = org
}

// SignInAs makes GitHub's authorize page act as if login (added if new)
// were signed in to GitHub and approved every app; empty means nobody is
// signed in, and the authorize page answers 403.
func (s *Server) SignInAs(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if login != "" {
		s.addUser(login)
	}
	s.signedIn = login
}

// AccessTokens returns every OAuth access token the fake issued, oldest
// first, so that a test can check that none leaks.
func (s *Server) AccessTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokenOrder)
}

// user is a GitHub user: orgs by lower-case login, teams by teamKey with
// their membership state.
type user struct {
	id    int64
	login string
	orgs  map[string]bool
	teams map[string]string
}

func (s *Server) oauthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login/oauth/authorize", s.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", s.accessToken)
}

// authorize is GitHub's authorize page after the user clicked "Authorize":
// a 302 to the redirect URI with a one-time code and the client's state.
func (s *Server) authorize(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := req.URL.Query()
	app, ok := s.apps[q.Get("client_id")]
	if !ok {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = app.callback
	}
	if !strings.HasPrefix(redirect, app.callback) {
		// GitHub shows an error page rather than redirecting anywhere else.
		http.Error(w, "The redirect_uri MUST match the registered callback URL for this application.", http.StatusBadRequest)
		return
	}
	if s.signedIn == "" {
		http.Error(w, "nobody is signed in to GitHub (githubtest.Server.SignInAs)", http.StatusForbidden)
		return
	}
	code := randomHex(10)
	s.codes[code] = &oauthCode{clientID: q.Get("client_id"), login: s.signedIn, redirect: redirect, expires: s.clock.Now().Add(10 * time.Minute)}
	u, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := u.Query()
	v.Set("code", code)
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, req, u.String(), http.StatusFound)
}

// accessToken exchanges a code for a token. GitHub answers 200 even for
// errors, with an "error" field; JSON when the client accepts it, else a
// form-encoded body.
func (s *Server) accessToken(w http.ResponseWriter, req *http.Request) {
	if err := req.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id, secret, ok := req.BasicAuth()
	if !ok {
		id, secret = req.PostForm.Get("client_id"), req.PostForm.Get("client_secret")
	}
	answer := func(v map[string]string) {
		if strings.Contains(req.Header.Get("Accept"), "json") {
			writeJSON(w, http.StatusOK, v)
			return
		}
		form := url.Values{}
		for k, x := range v {
			form.Set(k, x)
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.Write([]byte(form.Encode()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.apps[id]
	if !ok || app.secret != secret {
		answer(map[string]string{"error": "incorrect_client_credentials",
			"error_description": "The client_id and/or client_secret passed are incorrect.",
			"error_uri":         "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials"})
		return
	}
	c := s.codes[req.PostForm.Get("code")]
	if c == nil || c.used || c.clientID != id || s.clock.Now().After(c.expires) ||
		(req.PostForm.Get("redirect_uri") != "" && req.PostForm.Get("redirect_uri") != c.redirect) {
		answer(map[string]string{"error": "bad_verification_code",
			"error_description": "The code passed is incorrect or expired.",
			"error_uri":         "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"})
		return
	}
	c.used = true
	tok := "gho_" + randomHex(18)
	s.tokens[tok] = c.login
	s.tokenOrder = append(s.tokenOrder, tok)
	answer(map[string]string{"access_token": tok, "token_type": "bearer", "scope": "read:org"})
}

// tokenUser returns the user an OAuth access token was issued to, or nil.
// It must be called with s.mu held.
func (s *Server) tokenUser(req *http.Request) *user {
	auth := req.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "token ")
	}
	if !ok {
		return nil
	}
	login, ok := s.tokens[tok]
	if !ok {
		return nil
	}
	return s.users[strings.ToLower(login)]
}

func (s *Server) userRoutes(mux *http.ServeMux) {
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request, *user)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			u := s.tokenUser(req)
			if u == nil {
				writeJSON(w, http.StatusUnauthorized, apiError{Message: "Requires authentication", DocumentationURL: "https://docs.github.com/rest/users/users#get-the-authenticated-user"})
				return
			}
			fn(w, req, u)
		})
	}
	h("GET /user", s.getUser)
	h("GET /user/orgs", s.userOrgs)
	h("GET /orgs/{org}/members/{username}", s.orgMember)
	h("GET /orgs/{org}/public_members/{username}", s.publicMember)
	h("GET /orgs/{org}/teams/{team}/memberships/{username}", s.teamMembership)
}

func (s *Server) getUser(w http.ResponseWriter, req *http.Request, u *user) {
	writeJSON(w, http.StatusOK, map[string]any{
		"login":      u.login,
		"id":         u.id,
		"node_id":    "U_" + hex.EncodeToString([]byte(u.login)),
		"avatar_url": s.URL + "/avatars/u/" + u.login,
		"url":        s.apiURL("/users/" + u.login),
		"html_url":   s.URL + "/" + u.login,
		"type":       "User",
		"site_admin": false,
		"name":       u.login,
		"created_at": s.now(),
		"updated_at": s.now(),
	})
}

func (s *Server) userOrgs(w http.ResponseWriter, req *http.Request, u *user) {
	var keys []string
	for k := range u.orgs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	orgs := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		name := s.orgNames[k]
		orgs = append(orgs, map[string]any{
			"login":       name,
			"id":          len(name) + 1,
			"url":         s.apiURL("/orgs/" + name),
			"repos_url":   s.apiURL("/orgs/" + name + "/repos"),
			"members_url": s.apiURL("/orgs/" + name + "/members{/member}"),
			"avatar_url":  s.URL + "/avatars/o/" + name,
			"description": "",
		})
	}
	paginate(w, req, orgs)
}

// orgMember answers as GitHub does: to a member of the org, 204 when
// username is a member and 404 when not; to anyone else, a 302 to the
// public membership check (every membership here is private).
func (s *Server) orgMember(w http.ResponseWriter, req *http.Request, u *user) {
	org := strings.ToLower(req.PathValue("org"))
	if !u.orgs[org] {
		w.Header().Set("Location", s.apiURL("/orgs/"+req.PathValue("org")+"/public_members/"+req.PathValue("username")))
		w.WriteHeader(http.StatusFound)
		return
	}
	if m := s.users[strings.ToLower(req.PathValue("username"))]; m != nil && m.orgs[org] {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	notFound(w)
}

func (s *Server) publicMember(w http.ResponseWriter, req *http.Request, u *user) {
	notFound(w)
}

// teamMembership answers GitHub's team membership of a user: 200 with role
// and state ("active" or "pending") to a member of the org, 404 otherwise.
func (s *Server) teamMembership(w http.ResponseWriter, req *http.Request, u *user) {
	org, team, name := req.PathValue("org"), req.PathValue("team"), req.PathValue("username")
	if !u.orgs[strings.ToLower(org)] {
		notFound(w)
		return
	}
	m := s.users[strings.ToLower(name)]
	if m == nil || m.teams[teamKey(org, team)] == "" {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"url":   s.apiURL("/teams/1/memberships/" + m.login),
		"role":  "member",
		"state": m.teams[teamKey(org, team)],
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
