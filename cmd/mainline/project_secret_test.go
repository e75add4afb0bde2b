package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/webhooks"
)

// Secrets given to project add and set-secret are stored, rotated with the
// previous one kept on request, never printed, and accepted by the webhook
// receiver for deliveries about the project's repository only.
func TestProjectSetSecretRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, second, third := "first-secret-3b9e", "second-secret-71d0", "third-secret-a5c2"
	writeSecret := func(name, secret string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	var outs []string
	run := func(args ...string) {
		t.Helper()
		out, err := runCLI(t, dir, args...)
		if err != nil {
			t.Fatalf("mainline %s: %v", strings.Join(args, " "), err)
		}
		outs = append(outs, out)
	}
	run("project", "add", "Codertocat/Hello-World", "--webhook-secret-file", writeSecret("first", first))
	run("project", "add", "octo-org/api")

	secretsOf := func(name string) []string {
		t.Helper()
		st, err := store.Open(ctx, "sqlite://"+dir+"/mainline.db")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		p, err := st.ProjectByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return p.WebhookSecrets()
	}

	steps := []struct {
		name string
		args []string
		want []string
	}{
		{"after add", nil, []string{first}},
		{"rotation keeping the previous", []string{"--file", writeSecret("second", second), "--keep-previous"}, []string{second, first}},
		{"rotation again drops the oldest", []string{"--file", writeSecret("third", third), "--keep-previous"}, []string{third, second}},
		{"set without keeping", []string{"--file", writeSecret("third", third)}, []string{third}},
	}
	for _, step := range steps {
		if step.args != nil {
			run(append([]string{"project", "set-secret", "Codertocat/Hello-World"}, step.args...)...)
		}
		if got := secretsOf("Codertocat/Hello-World"); !slices.Equal(got, step.want) {
			t.Errorf("%s: secrets = %d secrets, want %d (in order)", step.name, len(got), len(step.want))
		}
	}
	if got := secretsOf("octo-org/api"); len(got) != 0 {
		t.Errorf("octo-org/api has %d secrets, want none", len(got))
	}

	// Errors: unknown project, empty file, missing --file; none stores
	// anything.
	for _, args := range [][]string{
		{"project", "set-secret", "nope", "--file", writeSecret("x", "x-secret")},
		{"project", "set-secret", "Codertocat/Hello-World", "--file", writeSecret("empty", "  ")},
		{"project", "set-secret", "Codertocat/Hello-World"},
	} {
		if _, err := runCLI(t, dir, args...); err == nil {
			t.Errorf("mainline %s: got no error", strings.Join(args, " "))
		}
	}
	if got := secretsOf("Codertocat/Hello-World"); !slices.Equal(got, []string{third}) {
		t.Errorf("after refused commands: secrets changed")
	}
	for _, out := range outs {
		for _, s := range []string{first, second, third} {
			if strings.Contains(out, s) {
				t.Errorf("output %q contains a secret", out)
			}
		}
	}

	// The receiver accepts the project's secret for its own repository.
	st, err := store.Open(ctx, "sqlite://"+dir+"/mainline.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := &webhooks.Handler{Store: st, ProjectSecrets: projectSecrets(st)}
	push, err := os.ReadFile("/work/shared/fixtures/github-webhooks/push/with-new-branch.payload.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, secret string
		want       int
	}{
		{"d-current", third, http.StatusAccepted},
		{"d-dropped", first, http.StatusUnauthorized},
	} {
		m := hmac.New(sha256.New, []byte(tt.secret))
		m.Write(push)
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/webhooks/github", bytes.NewReader(push))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set("X-GitHub-Delivery", tt.id)
		r.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.want {
			t.Errorf("delivery %s: status %d (%s), want %d", tt.id, rec.Code, rec.Body, tt.want)
		}
	}
}

// A secret can be piped in on stdin with --file -.
func TestProjectSetSecretStdin(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCLI(t, dir, "project", "add", "octo-org/api"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MAINLINE_DATA_DIR": dir}
	root := newRootCmd(func(k string) string { return env[k] })
	root.SetIn(strings.NewReader("piped-secret-40fe\n"))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"project", "set-secret", "octo-org/api", "--file", "-"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite://"+dir+"/mainline.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.ProjectByName(context.Background(), "octo-org/api")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.WebhookSecrets(), []string{"piped-secret-40fe"}) {
		t.Errorf("secrets = %d secrets, want the piped one", len(p.WebhookSecrets()))
	}
	if strings.Contains(out.String(), "piped-secret-40fe") {
		t.Errorf("output contains the secret")
	}
}
