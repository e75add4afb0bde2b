package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/web"
)

// hostileRequests is how many bad requests TestHostileInput sends.
const hostileRequests = 10_000

// TestHostileInput sends 10,000 generated bad requests — bad signatures,
// truncated and huge bodies, invalid UTF-8, deeply nested JSON, wrong
// methods and content types, bad tokens, malformed HTTP — at the webhook
// receiver, the API, the dashboard's forms and the health and metrics
// endpoints, through the real routes on a real loopback listener. Every
// answer must be a 4xx — or a redirect to a path on this server, which is
// what ServeMux answers to unclean paths and a missing trailing slash and
// the dashboard to a visitor who is not signed in — the server must still
// answer afterwards, no handler may panic, and no row in the store may
// change. (The rate limiter
// is off: with it on, nearly every answer would be its 429 and the
// handlers would never see the input.)
func TestHostileInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mainline.db")
	const secret = "hostile-webhook-secret"
	s := settings{DataDir: dir, DatabaseURL: "sqlite://" + dbPath, WebhookSecrets: []string{secret}}
	logs := &syncBuffer{}
	srv, err := newServer(ctx, s, slog.New(slog.NewJSONHandler(logs, nil)), controller.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	if _, err := srv.store.CreateProject(ctx, store.Project{Name: "shop", SCM: "github", Location: "acme/shop"}); err != nil {
		t.Fatal(err)
	}
	const token = "mlt_hostile-test-token"
	if _, err := srv.store.AddToken(ctx, store.Token{Name: "ci", Hash: web.HashToken(token), CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	srv.limits = nil
	srv.handler = srv.routes()

	serverErrors := &syncBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 20 * time.Second,
		WriteTimeout: 20 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: log.New(serverErrors, "", 0)}
	go hs.Serve(ln)
	defer hs.Close()
	addr := ln.Addr().String()

	before := rowCounts(t, dbPath)
	fixture, err := os.ReadFile("../../../shared/fixtures/github-webhooks/push/with-new-branch.payload.json")
	if err != nil {
		t.Fatal(err)
	}
	g := &hostile{secret: []byte(secret), token: token, push: fixture}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type result struct {
		kind   string
		status int
		err    error
	}
	results := make(chan result, 64)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range jobs {
				kind, status, err := g.send(rng, i, client, addr)
				results <- result{kind, status, err}
			}
		}()
	}
	go func() {
		for i := range hostileRequests {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	statuses := map[string]map[int]int{}
	failures := 0
	for r := range results {
		if statuses[r.kind] == nil {
			statuses[r.kind] = map[int]int{}
		}
		statuses[r.kind][r.status]++
		if (r.err != nil || r.status < 300 || r.status > 499) && failures < 20 {
			failures++
			t.Errorf("%s: status %d, err %v; want a 4xx (or a redirect to a local path)", r.kind, r.status, r.err)
		}
	}
	var kinds []string
	for k := range statuses {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	total := 0
	for _, k := range kinds {
		for _, n := range statuses[k] {
			total += n
		}
		t.Logf("%-28s %v", k, statuses[k])
	}
	if total != hostileRequests {
		t.Errorf("answered %d requests, want %d", total, hostileRequests)
	}

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("server no longer answers /healthz: %v", err)
	}
	resp.Body.Close()
	if strings.Contains(serverErrors.String(), "panic") {
		t.Errorf("a handler panicked:\n%s", lastLines(serverErrors.String(), 20))
	}
	after := rowCounts(t, dbPath)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("store rows changed:\nbefore %v\nafter  %v", before, after)
	}
}

// hostile generates bad requests.
type hostile struct {
	secret []byte
	token  string
	push   []byte
}

func (h *hostile) sign(body []byte) string {
	m := hmac.New(sha256.New, h.secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// send makes request i and returns its kind and the status it got.
func (h *hostile) send(rng *rand.Rand, i int, client *http.Client, addr string) (string, int, error) {
	base := "http://" + addr
	hook := base + "/webhooks/github"
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	junk := func(n int) []byte {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		return b
	}
	// header is junk a client may still send in a header: printable
	// ASCII and bytes ≥ 0x80 (invalid UTF-8), no control characters.
	header := func(n int) string {
		b := make([]byte, n)
		for j := range b {
			if c := byte(0x21 + rng.IntN(0x5e)); rng.IntN(2) == 0 {
				b[j] = c
			} else {
				b[j] = byte(0x80 + rng.IntN(0x80))
			}
		}
		return string(b)
	}
	webhook := func(body io.Reader, sig, event, delivery, ctype string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, hook, body)
		setRaw(req, "X-Hub-Signature-256", sig)
		setRaw(req, "X-GitHub-Event", event)
		setRaw(req, "X-GitHub-Delivery", delivery)
		setRaw(req, "Content-Type", ctype)
		return req
	}
	id := fmt.Sprintf("hostile-%d", i)
	var kind string
	var req *http.Request
	switch i % 17 {
	case 0:
		kind = "webhook bad signature"
		sig := pick("", "sha256=", "sha1=abc", "sha256="+hex.EncodeToString(junk(32)), "sha256=zz", "sha256="+strings.Repeat("a", 5000),
			"sha256=\xff\xfe", (&hostile{secret: []byte("wrong")}).sign(h.push))
		req = webhook(bytes.NewReader(h.push), sig, "push", id, "application/json")
	case 1:
		kind = "webhook truncated, signed"
		end := bytes.LastIndexByte(h.push, '}')
		body := h.push[:1+rng.IntN(end-1)]
		req = webhook(bytes.NewReader(body), h.sign(body), "push", id, "application/json")
	case 2:
		kind = "webhook truncated, unsigned"
		body := h.push[:rng.IntN(len(h.push)-1)]
		req = webhook(bytes.NewReader(body), h.sign(h.push), "push", id, "application/json")
	case 3:
		kind = "webhook invalid UTF-8"
		body := bytes.Clone(h.push)
		for range 20 {
			body[rng.IntN(len(body))] = byte(0x80 + rng.IntN(0x80))
		}
		switch rng.IntN(3) {
		case 0:
			req = webhook(bytes.NewReader(body), h.sign(h.push), "push", id, "application/json")
		case 1:
			req = webhook(bytes.NewReader(h.push), h.sign(h.push), "push", "id-\xff\xfe-"+id, "application/json")
		default:
			req = webhook(bytes.NewReader(h.push), h.sign(h.push), "pu\xc3\x28sh", id, "application/json")
		}
	case 4:
		kind = "webhook deep JSON, signed"
		depth := 1000 + rng.IntN(20_000)
		var body []byte
		if rng.IntN(2) == 0 {
			body = append(bytes.Repeat([]byte("["), depth), bytes.Repeat([]byte("]"), depth)...)
		} else {
			body = append(bytes.Repeat([]byte(`{"repository":`), depth), bytes.Repeat([]byte("}"), depth)...)
		}
		req = webhook(bytes.NewReader(body), h.sign(body), pick("push", "pull_request", "ping"), id, "application/json")
	case 5:
		kind = "webhook wrong shape, signed"
		body := []byte(pick(`{}`, `[]`, `null`, `"push"`, `{"ref": 5}`, `{"ref":"refs/heads/main","after":"abc"}`,
			`{"repository":{"full_name":7}}`, `{"action":"opened"}`, "", `{"ref":"`+strings.Repeat("x", 10000)+`"`))
		req = webhook(bytes.NewReader(body), h.sign(body), pick("push", "pull_request"), id, "application/json")
	case 6:
		kind = "webhook bad content type"
		req = webhook(bytes.NewReader(h.push), h.sign(h.push), "push", id,
			pick("text/plain", "multipart/form-data; boundary=x", "application/json; charset=\"", "", "application/xml", "\xff/\xfe"))
	case 7:
		kind = "webhook bad headers, signed"
		event, delivery := "push", id
		switch rng.IntN(4) {
		case 0:
			event = ""
		case 1:
			delivery = ""
		case 2:
			delivery = strings.Repeat("d", 200)
		default:
			event = "push; DROP TABLE deliveries"
		}
		req = webhook(bytes.NewReader(h.push), h.sign(h.push), event, delivery, "application/json")
	case 8:
		kind = "webhook wrong method"
		req, _ = http.NewRequest(pick("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"), hook, bytes.NewReader(h.push))
		req.Header.Set("X-Hub-Signature-256", h.sign(h.push))
		req.Header.Set("X-GitHub-Event", "push")
	case 9:
		kind = "webhook huge body"
		if i%(17*25) == 9 { // a few real 26 MiB bodies, streamed without a length
			req = webhook(io.LimitReader(zeroReader{}, 26<<20), h.sign(h.push), "push", id, "application/json")
			req.ContentLength = -1
		} else {
			return h.raw(rng, addr, kind, fmt.Sprintf("POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				"X-Hub-Signature-256: %s\r\nX-GitHub-Event: push\r\nContent-Length: %d\r\n\r\n{", h.sign(h.push), 26<<20+rng.IntN(1<<30)))
		}
	case 10:
		kind = "api without a token"
		path := pick("/api/v1/projects", "/api/v1/projects/shop", "/api/v1/events?limit=-1", "/api/v1/projects/shop/deploy",
			"/api/v1/projects/%ff%fe/pause", "/api/v1/projects/../../etc/passwd", "/api/v1/events?project=\xff")
		req, _ = http.NewRequest(pick("GET", "POST", "PUT", "DELETE"), base+path, bytes.NewReader(junk(rng.IntN(2000))))
		req.Header.Set("Content-Type", "application/json")
	case 11:
		kind = "api bad token"
		req, _ = http.NewRequest(pick("GET", "POST"), base+pick("/api/v1/projects", "/api/v1/projects/shop/pause"), nil)
		setRaw(req, "Authorization", pick("Bearer ", "Bearer "+header(40), "Bearer mlt_"+hex.EncodeToString(junk(32)),
			"Basic "+strings.Repeat("A", 4000), "bearer\t"+h.token+"x", h.token))
	case 12:
		kind = "api hostile body, token"
		// Only unknown actions on the real project and actions on a
		// project that does not exist: nothing here may act.
		path := pick("/api/v1/projects/shop/explode", "/api/v1/projects/shop/", "/api/v1/projects/nope/deploy",
			"/api/v1/projects/nope/rollback", "/api/v1/projects/nope/pause", "/api/v1/projects/%00/resume")
		var body []byte
		switch rng.IntN(4) {
		case 0:
			body = append(bytes.Repeat([]byte(`{"version":`), 20_000), bytes.Repeat([]byte("}"), 20_000)...)
		case 1:
			body = []byte("{\"version\":\"\xff\xfe\"}")
		case 2:
			body = bytes.Repeat([]byte("x"), 2<<20)
		default:
			body = []byte(`{"version":"0.0.1"`)
		}
		req, _ = http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.token)
		req.Header.Set("Content-Type", pick("application/json", "text/plain", "application/x-www-form-urlencoded"))
	case 13:
		kind = "dashboard form, no session"
		form := pick("version=0.0.1", "csrf=x&version=\xff", strings.Repeat("a=b&", 5000), "token="+header(64))
		req, _ = http.NewRequest(http.MethodPost, base+pick("/projects/shop/pause", "/projects/shop/deploy", "/signin", "/signout"), strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case 14:
		kind = "health and metrics, wrong method"
		req, _ = http.NewRequest(pick("POST", "PUT", "DELETE"), base+pick("/healthz", "/readyz", "/metrics"), bytes.NewReader(junk(100)))
	case 15:
		kind = "unknown paths"
		req, _ = http.NewRequest(pick("GET", "POST"), base+pick("/nope", "/webhooks/gitlab", "/api/v2/projects", "/static/../../go.mod",
			"/projects/nope", "/%2e%2e/%2e%2e/etc/passwd"), nil)
	default:
		kind = "malformed HTTP"
		return h.raw(rng, addr, kind, pick(
			"GARBAGE\r\n\r\n",
			"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
			"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
			"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
			"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 70<<10)+"\r\n\r\n",
			"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
			"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
		))
	}
	resp, err := client.Do(req)
	if err != nil {
		return kind, 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode/100 == 3 {
		return kind, resp.StatusCode, localRedirect(resp.Header.Get("Location"))
	}
	return kind, resp.StatusCode, nil
}

// localRedirect accepts a redirect only to a path on this server: hostile
// input must not make an open redirect.
func localRedirect(loc string) error {
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
		return fmt.Errorf("redirect to %q, off this server", loc)
	}
	return nil
}

// raw writes a request as bytes on a new connection and reads the status
// of the answer.
func (h *hostile) raw(_ *rand.Rand, addr, kind, request string) (string, int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return kind, 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		return kind, 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return kind, 0, err
	}
	resp.Body.Close()
	return kind, resp.StatusCode, nil
}

// setRaw sets a header value as is, even one http.Header.Set would
// canonicalise or the client would refuse to send; "" leaves it out.
func setRaw(req *http.Request, key, value string) {
	if value != "" {
		req.Header[key] = []string{value}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// rowCounts counts the rows of every table of a SQLite database.
func rowCounts(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("only %d tables in the store: %v", len(tables), tables)
	}
	counts := map[string]int{}
	for _, name := range tables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM "` + name + `"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[name] = n
	}
	return counts
}
