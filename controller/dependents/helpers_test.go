package dependents_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/controller/dependents/proxytest"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

// run runs a command in dir and returns its trimmed output, failing the test
// on error.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(),
		"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@localhost",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@localhost",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// localRepo is a bare repository (what Mainline watches) and a developer's
// clone of it.
type localRepo struct {
	bare, clone string
	px          *proxytest.Proxy
}

// newLocalRepo makes a bare repository whose main holds files; when tidy is
// set, go mod tidy runs against px first so go.sum is committed as a
// developer would.
func newLocalRepo(t *testing.T, px *proxytest.Proxy, files map[string]string, tidy bool) *localRepo {
	t.Helper()
	root := t.TempDir()
	r := &localRepo{bare: filepath.Join(root, "origin.git"), clone: filepath.Join(root, "clone"), px: px}
	run(t, root, nil, "git", "init", "-q", "--bare", "-b", "main", r.bare)
	run(t, root, nil, "git", "init", "-q", "-b", "main", r.clone)
	writeFiles(t, r.clone, files)
	if tidy {
		run(t, r.clone, px.Env(), "go", "mod", "tidy")
	}
	run(t, r.clone, nil, "git", "add", "-A")
	run(t, r.clone, nil, "git", "commit", "-q", "-m", "initial")
	run(t, r.clone, nil, "git", "remote", "add", "origin", r.bare)
	run(t, r.clone, nil, "git", "push", "-q", "origin", "main")
	return r
}

// commit commits files on main, pushes, and returns the commit.
func (r *localRepo) commit(t *testing.T, msg string, files map[string]string) string {
	t.Helper()
	run(t, r.clone, nil, "git", "pull", "-q", "--ff-only", "origin", "main")
	writeFiles(t, r.clone, files)
	run(t, r.clone, nil, "git", "add", "-A")
	run(t, r.clone, nil, "git", "commit", "-q", "-m", msg)
	run(t, r.clone, nil, "git", "push", "-q", "origin", "main")
	return run(t, r.clone, nil, "git", "rev-parse", "HEAD")
}

// tag tags main and pushes the tag.
func (r *localRepo) tag(t *testing.T, name string) {
	t.Helper()
	run(t, r.clone, nil, "git", "tag", name)
	run(t, r.clone, nil, "git", "push", "-q", "origin", name)
}

// file reads a file at main of the bare repository.
func (r *localRepo) file(t *testing.T, path string) string {
	t.Helper()
	return run(t, r.bare, nil, "git", "show", "main:"+path)
}

// refUpdates records the refs Mainline moved, as the server's
// wakeOnRefUpdate would learn of them.
type refUpdates struct {
	mu  sync.Mutex
	got map[string][]gitlocal.RefUpdate // by project
}

func (u *refUpdates) opener(t *testing.T) func(context.Context, store.Project) (providers.SCM, error) {
	return func(_ context.Context, p store.Project) (providers.SCM, error) {
		return gitlocal.Open(p.Location, gitlocal.OnRefUpdate(func(_ context.Context, ru gitlocal.RefUpdate) {
			u.mu.Lock()
			defer u.mu.Unlock()
			if u.got == nil {
				u.got = map[string][]gitlocal.RefUpdate{}
			}
			u.got[p.Name] = append(u.got[p.Name], ru)
		}))
	}
}

func (u *refUpdates) to(project, ref string) []gitlocal.RefUpdate {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []gitlocal.RefUpdate
	for _, ru := range u.got[project] {
		if ru.Ref == ref {
			out = append(out, ru)
		}
	}
	return out
}

func events(t *testing.T, st store.Store, projectID int64, kind string) []string {
	t.Helper()
	evs, err := st.Events(context.Background(), store.EventQuery{ProjectID: projectID, Kind: kind, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Message)
	}
	return out
}
