package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/web"
)

func TestTokenCreate(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"MAINLINE_DATA_DIR": dir, "MAINLINE_DATABASE_URL": "sqlite://" + filepath.Join(dir, "m.db")}
	getenv := func(k string) string { return env[k] }
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newRootCmd(getenv)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := run("token", "create", "ci")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	secret := regexp.MustCompile(`mlt_[A-Za-z0-9_-]{43}`).FindString(out)
	if secret == "" {
		t.Fatalf("no token in the output:\n%s", out)
	}
	st, err := store.Open(context.Background(), env["MAINLINE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.TokenByHash(context.Background(), web.HashToken(secret))
	st.Close()
	if err != nil || tok.Name != "ci" {
		t.Fatalf("the printed token is not stored under its hash: %+v, %v", tok, err)
	}

	for _, tt := range []struct {
		name, arg, want string
	}{
		{"taken", "ci", `a token named "ci" exists already`},
		{"bad name", "no spaces", `token name "no spaces"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run("token", "create", tt.arg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(out, "mlt_") {
				t.Errorf("a secret was printed for a refused token:\n%s", out)
			}
		})
	}
}

// apiServer serves the dashboard and API over a fresh SQLite store with
// one project ("octo-org/orders", tags 0.1.0 and 0.2.0, running 0.2.0,
// both verified) and the token "secret-token" named cli.
func apiServer(t *testing.T) (string, store.Store) {
	t.Helper()
	st := storetest.SQLite(t)
	ctx := context.Background()
	now := time.Now().UTC()
	p, err := st.CreateProject(ctx, store.Project{Name: "octo-org/orders", SCM: "github", Location: "octo-org/orders"})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"0.1.0", "0.2.0"} {
		if err := st.AddTag(ctx, store.Tag{ProjectID: p.ID, Name: v, SHA: strings.Repeat(string(rune('a'+i)), 40), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutBuild(ctx, store.Build{ProjectID: p.ID, Name: "api", Version: v, Status: store.BuildSucceeded, StartedAt: now, FinishedAt: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddVerifyRun(ctx, store.VerifyRun{ProjectID: p.ID, Version: v, Trigger: "rollout", Status: "passed", StartedAt: now, FinishedAt: now.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: "api", Version: "0.2.0", Instances: 2, SetAt: now, SetBy: "tag 0.2.0"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetLast(ctx, store.Last{ProjectID: p.ID, Build: "api", Versions: map[string]int{"0.2.0": 2}, ObservedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddToken(ctx, store.Token{Name: "cli", Hash: web.HashToken("secret-token"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	srv := &web.Server{Store: st}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	return ts.URL, st
}

func TestAPIClientActions(t *testing.T) {
	url, st := apiServer(t)
	ctx := context.Background()
	c, ok, err := newAPIClient(envMap{"MAINLINE_URL": url + "/", "MAINLINE_TOKEN": "secret-token"}.get)
	if err != nil || !ok {
		t.Fatalf("newAPIClient: %v %v", ok, err)
	}
	project := func() store.Project {
		p, err := st.ProjectByName(ctx, "octo-org/orders")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	steps := []struct {
		name  string
		do    func() (string, error)
		check func(store.Project) bool
	}{
		{"deploy", func() (string, error) { return c.Deploy(ctx, "octo-org/orders", "0.1.0") }, func(p store.Project) bool { return p.Pinned == "0.1.0" }},
		{"resume", func() (string, error) { return c.Resume(ctx, "octo-org/orders") }, func(p store.Project) bool { return p.Pinned == "" }},
		{"rollback", func() (string, error) { return c.Rollback(ctx, "octo-org/orders") }, func(p store.Project) bool { return p.Pinned == "0.1.0" }},
		{"pause", func() (string, error) { return c.Pause(ctx, "octo-org/orders") }, func(p store.Project) bool { return p.Paused }},
		{"resume again", func() (string, error) { return c.Resume(ctx, "octo-org/orders") }, func(p store.Project) bool { return !p.Paused && p.Pinned == "" }},
	}
	for _, s := range steps {
		msg, err := s.do()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !strings.Contains(msg, "token:cli") {
			t.Errorf("%s: message %q does not name token:cli", s.name, msg)
		}
		if p := project(); !s.check(p) {
			t.Errorf("%s: project is %+v", s.name, p)
		}
	}

	var out bytes.Buffer
	if err := c.Status(ctx, &out, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"octo-org/orders (github octo-org/orders): in sync", "api:     desired 0.2.0 ×2 (tag 0.2.0)   last 0.2.0 ×2   in sync"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestAPIClientErrors(t *testing.T) {
	url, _ := apiServer(t)
	ctx := context.Background()
	tests := []struct {
		name, token string
		do          func(c *apiClient) error
		code        string
	}{
		{"wrong token", "not-the-token", func(c *apiClient) error { _, err := c.Pause(ctx, "octo-org/orders"); return err }, "invalid_token"},
		{"no token", "", func(c *apiClient) error { _, err := c.Pause(ctx, "octo-org/orders"); return err }, "unauthorized"},
		{"unknown project", "secret-token", func(c *apiClient) error { _, err := c.Pause(ctx, "nope"); return err }, "not_found"},
		{"unknown version", "secret-token", func(c *apiClient) error { _, err := c.Deploy(ctx, "octo-org/orders", "9.9.9"); return err }, "unknown_version"},
		{"status of unknown project", "secret-token", func(c *apiClient) error { return c.Status(ctx, &bytes.Buffer{}, []string{"nope"}) }, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := newAPIClient(envMap{"MAINLINE_URL": url, "MAINLINE_TOKEN": tt.token}.get)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.do(c)
			var ae *apiError
			if !errors.As(err, &ae) || ae.Code != tt.code {
				t.Fatalf("got %v, want an API error with code %s", err, tt.code)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
	for _, bad := range []string{"ftp://host", "not a url", "http://user:pw@host"} {
		if _, _, err := newAPIClient(envMap{"MAINLINE_URL": bad}.get); err == nil {
			t.Errorf("MAINLINE_URL=%q: no error", bad)
		}
	}
	if _, ok, err := newAPIClient(envMap{}.get); ok || err != nil {
		t.Errorf("without MAINLINE_URL: ok=%t err=%v, want the local path", ok, err)
	}
}

// envMap is an environment for getenv.
type envMap map[string]string

func (m envMap) get(k string) string { return m[k] }
