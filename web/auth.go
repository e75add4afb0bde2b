package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

// Cookie names. The session cookie is signed, HttpOnly and SameSite=Strict;
// the pre-sign-in CSRF cookie guards the sign-in form itself.
const (
	sessionCookie = "mainline_session"
	signinCookie  = "mainline_signin"
)

// HashToken returns the SHA-256 of an API token's secret, the form in which
// tokens are stored and looked up.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// principal is who is making a request: "token:ci", "user:alice", or ""
// for nobody. viaSession says whether it came from the session cookie,
// and so whether a CSRF token is needed for writes.
type principal struct {
	name       string
	viaSession bool
	session    string // the raw session cookie value, for CSRF tokens
}

func (p principal) signedIn() bool { return p.name != "" }

// errBadToken is returned for an unknown or malformed bearer token; it
// never carries the token.
var errBadToken = errors.New("invalid API token")

// who finds the principal of a request: a bearer token first, then the
// session cookie. A bearer token that does not match is an error, not
// anonymity, so that a typo in CI fails loudly.
func (s *Server) who(r *http.Request) (principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || secret == "" {
			return principal{}, errBadToken
		}
		t, err := s.Store.TokenByHash(r.Context(), HashToken(strings.TrimSpace(secret)))
		if errors.Is(err, store.ErrNotFound) {
			return principal{}, errBadToken
		}
		if err != nil {
			return principal{}, err
		}
		return principal{name: "token:" + t.Name}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, nil
	}
	name, ok := s.verifySession(c.Value)
	if !ok {
		return principal{}, nil
	}
	return principal{name: name, viaSession: true, session: c.Value}, nil
}

func (s *Server) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// newSession returns a signed cookie value naming who, valid for
// SessionTTL.
func (s *Server) newSession(who string) string {
	exp := strconv.FormatInt(s.Clock.Now().Add(s.SessionTTL).Unix(), 10)
	payload := base64.RawURLEncoding.EncodeToString([]byte(who + "\x00" + exp))
	sig := base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
	return payload + "." + sig
}

// verifySession checks a session cookie's signature and expiry.
func (s *Server) verifySession(v string) (string, bool) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok {
		return "", false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", payload)) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", false
	}
	who, exp, ok := strings.Cut(string(raw), "\x00")
	if !ok {
		return "", false
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.Clock.Now().After(time.Unix(n, 0)) {
		return "", false
	}
	return who, who != ""
}

// csrfToken is the CSRF token of a session: an HMAC of the session
// cookie, so it needs no storage and changes with every sign-in.
func (s *Server) csrfToken(session string) string {
	if session == "" {
		return ""
	}
	return hex.EncodeToString(s.mac("csrf", session))
}

func (s *Server) validCSRF(p principal, token string) bool {
	want := s.csrfToken(p.session)
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   s.SecureCookies,
		SameSite: http.SameSiteStrictMode,
	})
}

// canRead reports whether p may see read-only pages.
func (s *Server) canRead(p principal) bool { return s.PublicRead || p.signedIn() }

// signinPage shows the sign-in form. A random value is set both as a
// cookie and in the form (double submit), so another site cannot sign a
// browser in under someone else's token.
func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	s.renderSignin(w, r, http.StatusOK, "")
}

func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	nonce := randomHex(16)
	s.setCookie(w, signinCookie, nonce, 10*time.Minute)
	p, _ := s.who(r)
	s.render(w, r, code, "signin", &pageData{Title: "Sign in", Who: p, Data: map[string]any{
		"Nonce": nonce, "Error": msg, "Next": safeNext(r.FormValue("next")), "GitHub": s.github != nil,
	}})
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.renderSignin(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("nonce"))) != 1 {
		s.renderSignin(w, r, http.StatusForbidden, "The sign-in form expired; please try again.")
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("token"))
	t, err := s.Store.TokenByHash(r.Context(), HashToken(secret))
	if secret == "" || errors.Is(err, store.ErrNotFound) {
		s.renderSignin(w, r, http.StatusUnauthorized, "That token is not valid.")
		return
	}
	if err != nil {
		s.Logger.Error("sign in", "err", err)
		s.renderSignin(w, r, http.StatusInternalServerError, "Sign-in failed; see the server log.")
		return
	}
	s.setCookie(w, signinCookie, "", -1)
	s.setCookie(w, sessionCookie, s.newSession("token:"+t.Name), s.SessionTTL)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	p, _ := s.who(r)
	if p.viaSession && !s.validCSRF(p, r.PostFormValue("csrf")) {
		http.Error(w, "invalid CSRF token", http.StatusForbidden)
		return
	}
	s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// safeNext keeps redirects after sign-in on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
