package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/controller/dependents/proxytest"
)

// depsRepo makes a bare repository holding a service whose go.mod requires
// an outdated module, with go.sum tidied against px.
func depsRepo(t *testing.T, px *proxytest.Proxy) string {
	t.Helper()
	root := t.TempDir()
	work, bare := filepath.Join(root, "work"), filepath.Join(root, "svc.git")
	files := map[string]string{
		"go.mod":         "module example.com/svc\n\ngo 1.22\n\nrequire example.com/thirdparty v1.0.0\n",
		"main.go":        "package main\n\nimport \"example.com/thirdparty\"\n\nfunc main() { println(thirdparty.Hello()) }\n",
		".mainline.yaml": "dependencies: { automerge: true }\n",
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@localhost",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@localhost", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	for _, args := range [][]string{
		{"go", "mod", "tidy"},
		{"git", "init", "-q", "-b", "main"},
		{"git", "add", "-A"},
		{"git", "commit", "-q", "-m", "initial"},
		{"git", "init", "-q", "--bare", "-b", "main", bare},
		{"git", "push", "-q", bare, "main"},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = work
		cmd.Env = append(env, px.Env()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return bare
}

// TestDepsRun runs `mainline deps run` against a local repository and a
// module proxy on loopback: the first run opens, checks and merges an
// upgrade pull request and says so; the second has nothing to do.
func TestDepsRun(t *testing.T) {
	hello := func(v string) proxytest.Module {
		return proxytest.Module{Path: "example.com/thirdparty", Version: v, Files: map[string]string{
			"thirdparty.go": "package thirdparty\n\nfunc Hello() string { return \"" + v + "\" }\n",
		}}
	}
	px := proxytest.New(t, hello("v1.0.0"), hello("v1.1.0"))
	// The go tool reads the proxy over HTTP (MAINLINE_GOPROXY); the rest of
	// its settings come from the environment, as for a real server.
	for _, kv := range px.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if k != "GOPROXY" {
			t.Setenv(k, v)
		}
	}
	bare := depsRepo(t, px)
	data := t.TempDir()
	env := map[string]string{"MAINLINE_DATA_DIR": data, "MAINLINE_GOPROXY": px.URL}
	cli := func(args ...string) (string, error) {
		t.Helper()
		root := newRootCmd(func(k string) string { return env[k] })
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		if errOut.Len() > 0 {
			t.Logf("stderr of %v:\n%s", args, errOut.String())
		}
		return out.String(), err
	}
	if out, err := cli("project", "add", "--git", bare, "--name", "svc"); err != nil {
		t.Fatalf("project add: %v\n%s", err, out)
	}

	out, err := cli("deps", "run")
	if err != nil {
		t.Fatalf("deps run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"wave 1\n",
		`  svc: opened #1 "Upgrade 1 dependency"`,
		"checks success; merged as ",
		"      example.com/thirdparty v1.0.0 → v1.1.0 (minor)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("deps run output lacks %q:\n%s", want, out)
		}
	}
	show := exec.Command("git", "show", "main:go.mod")
	show.Dir = bare
	if gomod, err := show.Output(); err != nil || !strings.Contains(string(gomod), "example.com/thirdparty v1.1.0") {
		t.Errorf("go.mod on main after deps run (%v):\n%s", err, gomod)
	}

	out, err = cli("deps", "run", "svc")
	if err != nil {
		t.Fatalf("second deps run: %v\n%s", err, out)
	}
	if want := "  svc: nothing to upgrade\n"; !strings.Contains(out, want) {
		t.Errorf("second deps run output lacks %q:\n%s", want, out)
	}
	if _, err := cli("deps", "run", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("deps run nosuch: error %v, want one naming the project", err)
	}
}
