package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

var rowRE = regexp.MustCompile(`(?s)<tr class="[^"]*row-(\w+)" data-project="([^"]+)" data-build="([^"]+)">.*?<span class="status \w+"><span class="mark" aria-hidden="true"></span>([a-z ]+)</span>(?:<p class="why">([^<]*)</p>)?`)

type row struct{ project, build, status, why string }

func overviewRowsOf(t *testing.T, page string) []row {
	t.Helper()
	var out []row
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		out = append(out, row{m[2], m[3], m[4], m[5]})
	}
	return out
}

func TestOverviewStatusWords(t *testing.T) {
	e := newEnv(t, true)
	ts := e.server()
	rows := overviewRowsOf(t, e.get(e.client(), ts.URL+"/", http.StatusOK))
	want := []row{
		{"shop/payments", "api", "failed", `0.9.3 rejected: failed verification: step &#39;create order&#39; failed: $.status = &#34;error&#34;, want &#34;open&#34;`},
		{"tools/linter", "api", "failed", "build api@0.1.1 failed: go build: exit status 1 (push a fix, or retry the build)"},
		{"shop/web", "www", "waiting", "waiting for api to reach 2.0.1 (depends_on)"},
		{"shop/web", "api", "rolling", "rolling to 2.0.1 (1/2 healthy): start 1"},
		{"shop/cart", "api", "rolling", "rolling to 1.2.0 (1/3 healthy)"},
		{"demo", "app", "paused", "paused: Mainline keeps the desired state until resumed"},
		{"octo-org/orders", "api", "in sync", ""},
		{"octo-org/orders", "www", "in sync", ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
}

func TestOverviewFilter(t *testing.T) {
	e := newEnv(t, true)
	ts := e.server()
	c := e.client()
	tests := []struct {
		query string
		want  []string // project/build of each row
	}{
		{"q=shop", []string{"shop/payments/api", "shop/web/www", "shop/web/api", "shop/cart/api"}},
		{"status=rolling", []string{"shop/web/api", "shop/cart/api"}},
		{"q=ORDERS&status=in+sync", []string{"octo-org/orders/api", "octo-org/orders/www"}},
		{"status=failed", []string{"shop/payments/api", "tools/linter/api"}},
		{"q=nothing-like-this", nil},
		{"status=bogus", []string{"shop/payments/api", "tools/linter/api", "shop/web/www", "shop/web/api", "shop/cart/api", "demo/app", "octo-org/orders/api", "octo-org/orders/www"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var got []string
			for _, r := range overviewRowsOf(t, e.get(c, ts.URL+"/?"+tt.query, http.StatusOK)) {
				got = append(got, r.project+"/"+r.build)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGoldenFragments(t *testing.T) {
	e := newEnv(t, true)
	ts := e.server()
	c := e.client()
	tests := []struct {
		name, path, start, end string
	}{
		{"overview.golden", "/", `<section id="overview"`, "</section>"},
		{"project-state.golden", "/projects/shop/web", `<section id="state"`, "</section>"},
		{"project-timeline.golden", "/projects/shop/payments", `<section id="timeline"`, "</section>"},
		{"apidocs.golden", "/projects/octo-org/orders/-/api-docs", `<h1>`, "</main>"},
		{"run.golden", "/projects/octo-org/orders/-/runs/2", `<section id="run"`, "</section>"},
		{"build.golden", "/projects/tools/linter/-/builds/api/0.1.1", `<section id="build"`, "</section>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, tt.name, fragment(t, e.get(c, ts.URL+tt.path, http.StatusOK), tt.start, tt.end))
		})
	}
}

func TestReadNeedsSignInUnlessPublic(t *testing.T) {
	for _, public := range []bool{false, true} {
		e := newEnv(t, public)
		ts := e.server()
		for _, path := range []string{"/", "/projects/octo-org/orders", "/delivery", "/api/v1/projects", "/api/v1/projects/octo-org/orders/-/events"} {
			resp, err := e.client().Get(ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusOK
			if !public {
				want = http.StatusSeeOther
				if strings.HasPrefix(path, "/api/") {
					want = http.StatusUnauthorized
				}
			}
			if resp.StatusCode != want {
				t.Errorf("public=%t GET %s: status %d, want %d", public, path, resp.StatusCode, want)
			}
		}
		// Signed in, everything is readable.
		c := e.client()
		e.signIn(ts, c)
		e.get(c, ts.URL+"/", http.StatusOK)
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/projects", nil)
		req.Header.Set("Authorization", "Bearer "+tokenSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("public=%t: API with token: status %d", public, resp.StatusCode)
		}
	}
}

func TestSignIn(t *testing.T) {
	e := newEnv(t, false)
	ts := e.server()

	t.Run("cookie", func(t *testing.T) {
		c := e.client()
		body := e.get(c, ts.URL+"/signin", http.StatusOK)
		nonce := nonceRE.FindStringSubmatch(body)[1]
		resp, err := c.PostForm(ts.URL+"/signin", url.Values{"nonce": {nonce}, "token": {tokenSecret}, "next": {"//evil.example/"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); got != "/" {
			t.Errorf("redirect to %q, want / (no open redirect)", got)
		}
		var session *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "mainline_session" && ck.Value != "" {
				session = ck
			}
		}
		if session == nil {
			t.Fatal("no session cookie set")
		}
		if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
			t.Errorf("session cookie HttpOnly=%t SameSite=%v, want HttpOnly and Strict", session.HttpOnly, session.SameSite)
		}
		if strings.Contains(session.Value, tokenSecret) {
			t.Error("the session cookie carries the token")
		}
		if page := e.get(c, ts.URL+"/", http.StatusOK); !strings.Contains(page, "Signed in as <strong>token:alice</strong>") {
			t.Error("overview does not say who is signed in")
		}
	})
	refused := []struct {
		name  string
		form  func(nonce string) url.Values
		nonce bool
		want  int
	}{
		{"wrong token", func(n string) url.Values { return url.Values{"nonce": {n}, "token": {"mlt_wrong"}} }, true, http.StatusUnauthorized},
		{"empty token", func(n string) url.Values { return url.Values{"nonce": {n}, "token": {""}} }, true, http.StatusUnauthorized},
		{"no nonce cookie", func(n string) url.Values { return url.Values{"nonce": {n}, "token": {tokenSecret}} }, false, http.StatusForbidden},
		{"wrong nonce", func(string) url.Values { return url.Values{"nonce": {"00"}, "token": {tokenSecret}} }, true, http.StatusForbidden},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			body := e.get(c, ts.URL+"/signin", http.StatusOK)
			nonce := nonceRE.FindStringSubmatch(body)[1]
			if !tt.nonce {
				c = e.client()
			}
			resp, err := c.PostForm(ts.URL+"/signin", tt.form(nonce))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == "mainline_session" && ck.Value != "" {
					t.Error("a session cookie was set")
				}
			}
		})
	}
}

// projectState reads what the actions change.
func (e *env) projectState(name string) (store.Project, int) {
	e.t.Helper()
	p, err := e.st.ProjectByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	evs, err := e.st.Events(context.Background(), store.EventQuery{ProjectID: p.ID, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return p, len(evs)
}

func TestActionFormAuth(t *testing.T) {
	e := newEnv(t, true)
	ts := e.server()
	signed := e.client()
	csrf := e.signIn(ts, signed)
	deployURL := ts.URL + "/projects/octo-org/orders/-/deploy"

	tests := []struct {
		name    string
		client  *http.Client
		form    url.Values
		bearer  string
		want    int
		changes bool
	}{
		{"no session", e.client(), url.Values{"version": {"0.3.14"}, "confirmed": {"1"}}, "", http.StatusUnauthorized, false},
		{"no session, made-up CSRF", e.client(), url.Values{"version": {"0.3.14"}, "confirmed": {"1"}, "csrf": {csrf}}, "", http.StatusUnauthorized, false},
		{"session, no CSRF", signed, url.Values{"version": {"0.3.14"}, "confirmed": {"1"}}, "", http.StatusForbidden, false},
		{"session, bad CSRF", signed, url.Values{"version": {"0.3.14"}, "confirmed": {"1"}, "csrf": {strings.Repeat("0", 64)}}, "", http.StatusForbidden, false},
		{"bad bearer token", e.client(), url.Values{"version": {"0.3.14"}, "confirmed": {"1"}}, "mlt_wrong", http.StatusUnauthorized, false},
		{"session, CSRF, not confirmed", signed, url.Values{"version": {"0.3.14"}, "csrf": {csrf}}, "", http.StatusOK, false},
		{"session, CSRF, unknown version", signed, url.Values{"version": {"9.9.9"}, "csrf": {csrf}, "confirmed": {"1"}}, "", http.StatusBadRequest, false},
		{"session, CSRF, confirmed", signed, url.Values{"version": {"0.3.14"}, "csrf": {csrf}, "confirmed": {"1"}}, "", http.StatusSeeOther, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, nEvents := e.projectState("octo-org/orders")
			req, _ := http.NewRequest("POST", deployURL, strings.NewReader(tt.form.Encode()))
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
			after, nAfter := e.projectState("octo-org/orders")
			if !tt.changes {
				if after != before || nAfter != nEvents {
					t.Errorf("the project changed: %+v (%d events) → %+v (%d events)", before, nEvents, after, nAfter)
				}
				return
			}
			if after.Pinned != "0.3.14" {
				t.Errorf("pinned %q, want 0.3.14", after.Pinned)
			}
			evs, _ := e.st.Events(context.Background(), store.EventQuery{ProjectID: after.ID, Limit: 1})
			if len(evs) == 0 || evs[0].Kind != "pinned" || !strings.Contains(evs[0].Message, "token:alice") {
				t.Errorf("newest event %+v, want a pinned event naming token:alice", evs)
			}
			if len(e.ctrl.woken) == 0 || e.ctrl.woken[len(e.ctrl.woken)-1] != after.ID {
				t.Errorf("woken %v, want the project %d woken", e.ctrl.woken, after.ID)
			}
		})
	}
	t.Run("confirmation page", func(t *testing.T) {
		resp, err := signed.PostForm(ts.URL+"/projects/demo/-/resume", url.Values{"csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"Resume demo?", `name="confirmed" value="1"`, `name="csrf" value="` + csrf + `"`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("confirmation page lacks %q", want)
			}
		}
	})
}

// apiDo sends an API request with the test token (or none) and decodes
// the JSON answer.
func apiDo(t *testing.T, method, u, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, u, ct)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v", method, u, err)
	}
	return resp.StatusCode, out
}

func TestAPIReads(t *testing.T) {
	e := newEnv(t, false)
	ts := e.server()
	api := ts.URL + "/api/v1"

	code, out := apiDo(t, "GET", api+"/projects", tokenSecret, "")
	if code != 200 {
		t.Fatalf("projects: %d %v", code, out)
	}
	ps := out["projects"].([]any)
	if len(ps) != 6 {
		t.Errorf("%d projects, want 6", len(ps))
	}

	code, out = apiDo(t, "GET", api+"/projects/shop/cart", tokenSecret, "")
	if code != 200 {
		t.Fatalf("project: %d %v", code, out)
	}
	b := out["builds"].([]any)[0].(map[string]any)
	desired := b["desired"].(map[string]any)
	last := b["last"].(map[string]any)["versions"].(map[string]any)
	if out["status"] != "rolling" || desired["version"] != "1.2.0" || desired["instances"] != 3.0 || last["1.1.9"] != 2.0 || last["1.2.0"] != 1.0 {
		t.Errorf("shop/cart: status %v desired %v last %v", out["status"], desired, last)
	}

	tests := []struct {
		path string
		key  string
		n    int
	}{
		{"/projects/octo-org/orders/-/tags", "tags", 2},
		{"/projects/octo-org/orders/-/builds", "builds", 4},
		{"/projects/octo-org/orders/-/verify-runs", "verify_runs", 2},
		{"/projects/octo-org/orders/-/dependency-prs", "dependency_prs", 1},
		{"/projects/octo-org/orders/-/events", "events", 3},
		{"/projects/octo-org/orders/-/events?kind=verified", "events", 1},
		{"/projects/octo-org/orders/-/events?limit=2", "events", 2},
		{"/events?kind=rolled_back", "events", 1},
		{"/events?project=shop/cart", "events", 1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, out := apiDo(t, "GET", api+tt.path, tokenSecret, "")
			if code != 200 {
				t.Fatalf("status %d: %v", code, out)
			}
			if got := len(out[tt.key].([]any)); got != tt.n {
				t.Errorf("%d %s, want %d", got, tt.key, tt.n)
			}
		})
	}
	code, out = apiDo(t, "GET", api+"/projects/octo-org/orders/-/events?limit=2", tokenSecret, "")
	if _, ok := out["next_before"]; code != 200 || !ok {
		t.Errorf("a full page has no next_before: %v", out)
	}
	code, out = apiDo(t, "GET", api+"/projects/octo-org/orders/-/verify-runs/2", tokenSecret, "")
	if rep, ok := out["report"].(map[string]any); code != 200 || !ok || len(rep["steps"].([]any)) != 2 {
		t.Errorf("verify run 2: %d %v", code, out)
	}
	code, out = apiDo(t, "GET", api+"/projects/tools/linter/-/builds/api/0.1.1", tokenSecret, "")
	if code != 200 || out["status"] != "failed" || out["log"] != "main.go:3:1: syntax error" {
		t.Errorf("build: %d %v", code, out)
	}
	resp, err := http.Get(api + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Errorf("openapi.json: %v %v", err, doc["openapi"])
	}
	resp.Body.Close()
}

func TestAPIErrors(t *testing.T) {
	e := newEnv(t, false)
	ts := e.server()
	api := ts.URL + "/api/v1"
	tests := []struct {
		method, path, bearer, body string
		status                     int
		code                       string
	}{
		{"GET", "/projects", "", "", 401, "unauthorized"},
		{"GET", "/projects", "mlt_wrong", "", 401, "invalid_token"},
		{"GET", "/projects/nope", tokenSecret, "", 404, "not_found"},
		{"GET", "/projects/octo-org/orders/-/nothing", tokenSecret, "", 404, "not_found"},
		{"GET", "/nothing", tokenSecret, "", 404, "not_found"},
		{"POST", "/projects/octo-org/orders/-/deploy", "", `{"version":"0.3.14"}`, 401, "unauthorized"},
		{"POST", "/projects/octo-org/orders/-/deploy", "mlt_wrong", `{"version":"0.3.14"}`, 401, "invalid_token"},
		{"POST", "/projects/octo-org/orders/-/deploy", tokenSecret, `{"version":"9.9.9"}`, 400, "unknown_version"},
		{"POST", "/projects/octo-org/orders/-/deploy", tokenSecret, `{}`, 400, "version_required"},
		{"POST", "/projects/octo-org/orders/-/deploy", tokenSecret, `{not json`, 400, "bad_request"},
		{"POST", "/projects/octo-org/orders/-/explode", tokenSecret, `{}`, 404, "unknown_action"},
		{"POST", "/projects/nope/-/pause", tokenSecret, `{}`, 404, "not_found"},
		{"POST", "/projects/demo/-/pause", tokenSecret, `{}`, 409, "already_paused"},
		{"POST", "/projects/shop/cart/-/resume", tokenSecret, `{}`, 409, "not_paused"},
		{"POST", "/projects/shop/cart/-/rollback", tokenSecret, `{}`, 409, "no_previous_good"},
		{"POST", "/projects/tools/linter/-/retry", tokenSecret, `{"build":"api","version":"0.1.0"}`, 409, "build_not_failed"},
		{"POST", "/projects/tools/linter/-/retry", tokenSecret, `{"build":"api"}`, 400, "build_required"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			code, out := apiDo(t, tt.method, api+tt.path, tt.bearer, tt.body)
			if code != tt.status || out["code"] != tt.code || out["error"] == "" {
				t.Errorf("got %d %v, want %d code %q", code, out, tt.status, tt.code)
			}
		})
	}
}

func TestAPIActions(t *testing.T) {
	e := newEnv(t, false)
	ts := e.server()
	api := ts.URL + "/api/v1/projects/"
	ctx := context.Background()

	tests := []struct {
		path, body string
		check      func(p store.Project) bool
		kind       string
	}{
		{"octo-org/orders/-/rollback", "", func(p store.Project) bool { return p.Pinned == "0.3.14" }, "rolled_back"},
		{"octo-org/orders/-/resume", "", func(p store.Project) bool { return p.Pinned == "" }, "resumed"},
		{"octo-org/orders/-/deploy", `{"version":"0.3.14"}`, func(p store.Project) bool { return p.Pinned == "0.3.14" }, "pinned"},
		{"octo-org/orders/-/pause", "", func(p store.Project) bool { return p.Paused }, "paused"},
		{"octo-org/orders/-/resume", "", func(p store.Project) bool { return !p.Paused && p.Pinned == "" }, "resumed"},
		{"tools/linter/-/retry", `{"build":"api","version":"0.1.1"}`, func(store.Project) bool {
			b, err := e.st.Build(ctx, e.ids["tools/linter"], "api", "0.1.1")
			return err == nil && b.Status == store.BuildPending && b.Error == ""
		}, "build_retried"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, out := apiDo(t, "POST", api+tt.path, tokenSecret, tt.body)
			if code != 200 {
				t.Fatalf("status %d: %v", code, out)
			}
			if _, ok := out["project"].(map[string]any); !ok || out["message"] == "" {
				t.Errorf("answer %v lacks message and project", out)
			}
			name, _, _ := strings.Cut(tt.path, "/-/")
			p, _ := e.st.ProjectByName(ctx, name)
			if !tt.check(p) {
				t.Errorf("after %s the project is %+v", tt.path, p)
			}
			evs, _ := e.st.Events(ctx, store.EventQuery{ProjectID: p.ID, Limit: 1})
			if len(evs) != 1 || evs[0].Kind != tt.kind || !strings.Contains(evs[0].Message, "token:alice") {
				t.Errorf("newest event %+v, want %s naming token:alice", evs, tt.kind)
			}
		})
	}
}

func TestAPISessionNeedsCSRFHeader(t *testing.T) {
	e := newEnv(t, false)
	ts := e.server()
	c := e.client()
	csrf := e.signIn(ts, c)
	for _, tt := range []struct {
		header string
		want   int
	}{{"", 403}, {"bad", 403}, {csrf, 200}} {
		req, _ := http.NewRequest("POST", ts.URL+"/api/v1/projects/shop/cart/-/pause", nil)
		if tt.header != "" {
			req.Header.Set("X-CSRF-Token", tt.header)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("X-CSRF-Token %q: status %d, want %d", tt.header, resp.StatusCode, tt.want)
		}
	}
}

func TestSecretNeverShown(t *testing.T) {
	e := newEnv(t, false)
	ts := e.server()
	c := e.client()
	e.signIn(ts, c)
	for _, path := range []string{"/", "/projects/octo-org/orders", "/delivery", "/signin"} {
		if strings.Contains(e.get(c, ts.URL+path, http.StatusOK), tokenSecret) {
			t.Errorf("%s shows the token", path)
		}
	}
	apiDo(t, "POST", ts.URL+"/api/v1/projects/shop/cart/-/pause", tokenSecret, "")
	apiDo(t, "GET", ts.URL+"/api/v1/projects", "mlt_wrong_secret_value", "")
	if strings.Contains(e.logs.String(), tokenSecret) || strings.Contains(e.logs.String(), "mlt_wrong_secret_value") {
		t.Errorf("the log shows a token:\n%s", e.logs)
	}
}

func TestLiveStream(t *testing.T) {
	e := newEnv(t, true)
	ts := e.server()
	resp, err := http.Get(ts.URL + "/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- data
			}
		}
		close(events)
	}()
	first := <-events // the state when subscribing
	if _, err := e.st.AddEvent(context.Background(), store.Event{ProjectID: e.ids["shop/cart"], Kind: "verified", Message: "1.2.0 verified", At: now}); err != nil {
		t.Fatal(err)
	}
	select {
	case next, ok := <-events:
		if !ok || next == first {
			t.Errorf("after a new event: %q (open %t), want a fingerprint other than %q", next, ok, first)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no change event after a new event was stored")
	}
}
