package controller_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo is a bare repository (what Mainline watches) and a clone of it
// (where the test plays the developer).
type gitRepo struct {
	t     testing.TB
	Bare  string
	Clone string
}

// newGitRepo makes a bare repository whose default branch is branch, with
// one commit of files pushed to it.
func newGitRepo(t testing.TB, branch string, files map[string]string) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	r := &gitRepo{t: t, Bare: filepath.Join(dir, "origin.git"), Clone: filepath.Join(dir, "clone")}
	r.git(dir, "init", "-q", "--bare", "-b", branch, r.Bare)
	r.git(dir, "clone", "-q", r.Bare, r.Clone)
	r.git(r.Clone, "checkout", "-q", "-b", branch)
	r.Commit("initial commit", files)
	return r
}

// Commit writes files in the clone, commits and pushes; it returns the new
// head SHA.
func (r *gitRepo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, body := range files {
		p := filepath.Join(r.Clone, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git(r.Clone, "add", "-A")
	r.git(r.Clone, "commit", "-q", "--allow-empty", "-m", msg)
	r.git(r.Clone, "push", "-q", "origin", "HEAD")
	return r.git(r.Clone, "rev-parse", "HEAD")
}

// Tags lists the bare repository's tags as "name sha" lines.
func (r *gitRepo) Tags() []string {
	r.t.Helper()
	out := r.git(r.Bare, "for-each-ref", "--format=%(refname:short) %(*objectname)", "refs/tags")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func (r *gitRepo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
