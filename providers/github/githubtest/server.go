package githubtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

// BasePath is the path under which the fake serves the API: GitHub
// Enterprise Server's layout, so go-github's WithEnterpriseURLs(srv.URL, …)
// finds it, and a client that forgot its base URL cannot match by luck.
const BasePath = "/api/v3"

// Clock tells the fake the time, for rate limit headers and timestamps.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock behind rate limit reset times and timestamps.
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithToken makes the fake require "Authorization: Bearer token" (or
// "token token") on every API request, answering 401 "Bad credentials"
// otherwise.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// Request is one request the fake answered.
type Request struct {
	Method string
	Path   string // without BasePath, e.g. "/repos/acme/shop/git/refs"
	Status int
}

// Server is a fake GitHub REST API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's root, e.g. "http://127.0.0.1:41234".
	URL string

	t     testing.TB
	srv   *httptest.Server
	clock Clock
	token string

	mu        sync.Mutex
	repos     map[string]*Repo // by "owner/name", lower case
	nextID    int64
	seq       int
	requests  []Request
	rateLimit []time.Duration // pending primary rate limit faults: reset in
	secondary []time.Duration // pending secondary rate limit faults: Retry-After
	fail      []int           // pending plain failures: status codes

	// The OAuth web flow and users (oauth.go).
	apps       map[string]oauthApp   // by client ID
	codes      map[string]*oauthCode // authorization codes handed out
	users      map[string]*user      // by lower-case login
	orgNames   map[string]string     // lower case → as spelt
	tokens     map[string]string     // access token → login
	tokenOrder []string              // access tokens, oldest first
	signedIn   string                // who the authorize page approves as
}

// New starts a fake and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	s := &Server{
		t:      t,
		clock:  systemClock{},
		repos:  make(map[string]*Repo),
		nextID: 1000,

		apps:     make(map[string]oauthApp),
		codes:    make(map[string]*oauthCode),
		users:    make(map[string]*user),
		orgNames: make(map[string]string),
		tokens:   make(map[string]string),
	}
	for _, o := range opts {
		o(s)
	}
	api := http.NewServeMux()
	s.routes(api)
	mux := http.NewServeMux()
	mux.Handle(BasePath+"/", http.StripPrefix(BasePath, s.middleware(api)))
	s.oauthRoutes(mux)
	mux.HandleFunc("GET /_codeload/{owner}/{repo}/legacy.tar.gz/{sha}", s.codeload)
	mux.HandleFunc("/", s.unmodelled)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// BaseURL returns the API base URL with a trailing slash, as go-github's
// Client.BaseURL wants it.
func (s *Server) BaseURL() string { return s.URL + BasePath + "/" }

// Client returns a go-github client pointed at the fake. Each call returns a
// new client, with its own rate limit state.
func (s *Server) Client() *github.Client {
	c := github.NewClient(s.srv.Client())
	u, err := url.Parse(s.BaseURL())
	if err != nil {
		s.t.Fatalf("githubtest: %v", err)
	}
	c.BaseURL = u
	c.UploadURL = u
	return c
}

// HTTPClient returns an *http.Client for the fake's server, for tests that
// call it without go-github.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// RateLimitNext makes the next n API requests fail with GitHub's primary
// rate limit answer: 403, X-RateLimit-Remaining: 0 and X-RateLimit-Reset
// resetIn after the fake's clock's now (rounded up to a whole second, as
// the header holds Unix seconds).
func (s *Server) RateLimitNext(n int, resetIn time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.rateLimit = append(s.rateLimit, resetIn)
	}
}

// SecondaryRateLimitNext makes the next n API requests fail with GitHub's
// secondary rate limit answer: 403 with Retry-After (whole seconds) and the
// secondary-rate-limits documentation URL.
func (s *Server) SecondaryRateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.secondary = append(s.secondary, retryAfter)
	}
}

// FailNext makes the next n API requests fail with status (e.g. 500, 502)
// and a GitHub-style message body.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail = append(s.fail, status)
	}
}

// Requests returns every API request answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Served counts the API requests answered with status whose method and
// path (without BasePath) are method and path; empty strings match any.
func (s *Server) Served(method, path string, status int) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && (path == "" || r.Path == path) && r.Status == status {
			n++
		}
	}
	return n
}

// recorder buffers a handler's answer so the middleware can add an ETag and
// turn it into a 304.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		status := s.serve(w, req, next)
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: req.Method, Path: req.URL.Path, Status: status})
		s.mu.Unlock()
	})
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request, next http.Handler) int {
	now := s.clock.Now()
	s.mu.Lock()
	var fault func() int
	switch {
	case len(s.secondary) > 0:
		retry := s.secondary[0]
		s.secondary = s.secondary[1:]
		fault = func() int {
			w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			writeJSON(w, http.StatusForbidden, map[string]string{
				"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
				"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
			})
			return http.StatusForbidden
		}
	case len(s.rateLimit) > 0:
		reset := s.rateLimit[0]
		s.rateLimit = s.rateLimit[1:]
		fault = func() int {
			at := now.Add(reset + time.Second - 1).Unix()
			h := w.Header()
			h.Set("X-RateLimit-Limit", "5000")
			h.Set("X-RateLimit-Remaining", "0")
			h.Set("X-RateLimit-Used", "5000")
			h.Set("X-RateLimit-Reset", strconv.FormatInt(at, 10))
			h.Set("X-RateLimit-Resource", "core")
			writeJSON(w, http.StatusForbidden, map[string]string{
				"message":           "API rate limit exceeded for installation ID 1.",
				"documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
			})
			return http.StatusForbidden
		}
	case len(s.fail) > 0:
		code := s.fail[0]
		s.fail = s.fail[1:]
		fault = func() int {
			writeJSON(w, code, map[string]string{"message": http.StatusText(code)})
			return code
		}
	}
	s.mu.Unlock()
	if fault != nil {
		return fault()
	}
	if s.token != "" {
		auth := req.Header.Get("Authorization")
		s.mu.Lock()
		oauthUser := s.tokenUser(req)
		s.mu.Unlock()
		if auth != "Bearer "+s.token && auth != "token "+s.token && oauthUser == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"message":           "Bad credentials",
				"documentation_url": "https://docs.github.com/rest",
			})
			return http.StatusUnauthorized
		}
	}

	rec := &recorder{header: make(http.Header)}
	next.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	h := w.Header()
	for k, v := range rec.header {
		h[k] = v
	}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	if req.Method == http.MethodGet && rec.status == http.StatusOK {
		sum := sha256.Sum256(rec.body.Bytes())
		etag := `W/"` + hex.EncodeToString(sum[:]) + `"`
		h.Set("ETag", etag)
		if matchETag(req.Header.Get("If-None-Match"), etag) {
			h.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return http.StatusNotModified
		}
	}
	w.WriteHeader(rec.status)
	w.Write(rec.body.Bytes())
	return rec.status
}

// matchETag reports whether an If-None-Match header names etag, comparing
// weakly as GitHub does.
func matchETag(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, c := range strings.Split(header, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.TrimPrefix(c, "W/") == want {
			return true
		}
	}
	return false
}

func (s *Server) unmodelled(w http.ResponseWriter, req *http.Request) {
	s.t.Errorf("githubtest: unmodelled request %s %s", req.Method, req.URL.Path)
	writeJSON(w, http.StatusNotImplemented, map[string]string{"message": "githubtest does not model " + req.Method + " " + req.URL.Path})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// apiError is GitHub's error body.
type apiError struct {
	Message          string         `json:"message"`
	Errors           []github.Error `json:"errors,omitempty"`
	DocumentationURL string         `json:"documentation_url,omitempty"`
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, apiError{Message: "Not Found", DocumentationURL: "https://docs.github.com/rest"})
}

func fail(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, apiError{Message: message, DocumentationURL: "https://docs.github.com/rest"})
}

func validationFailed(w http.ResponseWriter, resource, field, code, message string) {
	writeJSON(w, http.StatusUnprocessableEntity, apiError{
		Message:          "Validation Failed",
		Errors:           []github.Error{{Resource: resource, Field: field, Code: code, Message: message}},
		DocumentationURL: "https://docs.github.com/rest",
	})
}

// decode reads a JSON request body into v, answering 400 "Problems parsing
// JSON" when it is not JSON.
func decode(w http.ResponseWriter, req *http.Request, v any) bool {
	if err := json.NewDecoder(req.Body).Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// paginate answers a list with GitHub's page/per_page parameters and Link
// header.
func paginate[T any](w http.ResponseWriter, req *http.Request, all []T) {
	q := req.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	if per > 100 {
		per = 100
	}
	page, _ := strconv.Atoi(q.Get("page"))
	if page <= 0 {
		page = 1
	}
	last := (len(all) + per - 1) / per
	if last == 0 {
		last = 1
	}
	start := min((page-1)*per, len(all))
	end := min(start+per, len(all))
	var links []string
	link := func(p int, rel string) {
		u := *req.URL
		v := u.Query()
		v.Set("page", strconv.Itoa(p))
		v.Set("per_page", strconv.Itoa(per))
		u.RawQuery = v.Encode()
		u.Path = BasePath + u.Path
		links = append(links, fmt.Sprintf(`<http://%s%s>; rel="%s"`, req.Host, u.RequestURI(), rel))
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
		link(page-1, "prev")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	page1 := all[start:end]
	if page1 == nil {
		page1 = []T{}
	}
	writeJSON(w, http.StatusOK, page1)
}

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

func (s *Server) now() *github.Timestamp {
	return &github.Timestamp{Time: s.clock.Now().UTC().Truncate(time.Second)}
}

// repo returns the repository a request names, answering 404 if there is
// none. It must be called with s.mu held.
func (s *Server) repo(w http.ResponseWriter, req *http.Request) *Repo {
	r := s.repos[strings.ToLower(req.PathValue("owner")+"/"+req.PathValue("repo"))]
	if r == nil {
		notFound(w)
	}
	return r
}

// apiURL returns the API URL of path (which starts with "/").
func (s *Server) apiURL(path string) string { return s.URL + BasePath + path }
