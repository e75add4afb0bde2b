package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/providers/gitlocal"
	"github.com/mainline-cd/mainline/providers/goproxy"
)

// TestDemoProxy checks the demo's module proxy through both of its
// readers: Mainline's module index lists both versions of
// example.com/greeting, and the go tool, reading only that proxy, makes
// exactly the go.sum and vendor/ the sample is written with — before and
// after the upgrade dependents day makes — while the sample builds with
// no proxy at all.
func TestDemoProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	dir := t.TempDir()
	url, err := writeDemoProxy(filepath.Join(dir, "goproxy"))
	if err != nil {
		t.Fatal(err)
	}
	// Written twice (every demo run writes it): the same proxy.
	if again, err := writeDemoProxy(filepath.Join(dir, "goproxy")); err != nil || again != url {
		t.Fatalf("second writeDemoProxy = %q, %v; want %q", again, err, url)
	}
	if want := "file://" + filepath.ToSlash(filepath.Join(dir, "goproxy")); url != want {
		t.Errorf("GOPROXY = %q, want %q", url, want)
	}
	ix, err := goproxy.New(goproxy.Config{Proxy: url})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ix.Versions(context.Background(), greetingModule)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"v1.0.0", "v1.1.0"}; !slices.Equal(vs, want) {
		t.Errorf("versions of %s = %q, want %q", greetingModule, vs, want)
	}

	sample := filepath.Join(dir, "sample")
	if err := writeSample(sample); err != nil {
		t.Fatal(err)
	}
	goTool := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = sample
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	offline := []string{"GOPROXY=off", "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local", "GOWORK=off", "CGO_ENABLED=0"}
	goTool(offline, "build", "-o", filepath.Join(dir, "orders"), ".")

	proxy := []string{"GOPROXY=" + url, "GONOSUMDB=" + greetingModule, "GOMODCACHE=" + t.TempDir(),
		"GOFLAGS=-mod=mod -modcacherw -buildvcs=false", "GOTOOLCHAIN=local", "GOWORK=off"}
	written := readFiles(t, sample, "go.mod", "go.sum", "vendor/modules.txt", "vendor/example.com/greeting/greeting.go")
	goTool(proxy, "mod", "tidy")
	goTool(proxy, "mod", "vendor")
	if got := readFiles(t, sample, "go.mod", "go.sum", "vendor/modules.txt", "vendor/example.com/greeting/greeting.go"); !equalMaps(got, written) {
		t.Errorf("go mod tidy and go mod vendor changed the sample:\ngot  %q\nwant %q", got, written)
	}

	goTool(proxy, "get", greetingModule+"@"+greetingNewest)
	goTool(proxy, "mod", "vendor")
	got := readFiles(t, sample, "go.mod", "vendor/modules.txt", "vendor/example.com/greeting/greeting.go")
	for file, want := range map[string]string{
		"go.mod":             "require example.com/greeting v1.1.0",
		"vendor/modules.txt": "# example.com/greeting v1.1.0\n",
		"vendor/example.com/greeting/greeting.go": `return msg + "!"`,
	} {
		if !strings.Contains(got[file], want) {
			t.Errorf("after the upgrade, %s lacks %q:\n%s", file, want, got[file])
		}
	}
}

func readFiles(t *testing.T, dir string, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(data)
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRunPostReceive checks that a ref update runs a repository's
// post-receive hook as git does after a push — in the bare repository,
// with the "old new ref" line on stdin, a zero id for a new ref — and
// that a repository without an executable hook runs nothing.
func TestRunPostReceive(t *testing.T) {
	const sha = "1111111111111111111111111111111111111111"
	tests := []struct {
		name    string
		hook    string // script; "" for none
		mode    os.FileMode
		update  gitlocal.RefUpdate
		wantRan bool
		wantIn  string
	}{
		{"update", "#!/bin/sh\npwd\ncat\n", 0o755, gitlocal.RefUpdate{Ref: "refs/heads/main", Old: sha, New: strings.Repeat("2", 40)},
			true, sha + " " + strings.Repeat("2", 40) + " refs/heads/main"},
		{"new branch", "#!/bin/sh\npwd\ncat\n", 0o755, gitlocal.RefUpdate{Ref: "refs/heads/x", New: sha},
			true, zeroRev + " " + sha + " refs/heads/x"},
		{"not executable", "#!/bin/sh\necho ran\n", 0o644, gitlocal.RefUpdate{Ref: "refs/heads/main", Old: sha, New: sha}, false, ""},
		{"no hook", "", 0, gitlocal.RefUpdate{Ref: "refs/heads/main", Old: sha, New: sha}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bare := filepath.Join(t.TempDir(), "r.git")
			if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
				t.Fatalf("git init: %v\n%s", err, out)
			}
			hook := filepath.Join(bare, "hooks", "post-receive")
			if tt.hook != "" {
				if err := os.WriteFile(hook, []byte(tt.hook), tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			ran, out, err := runPostReceive(context.Background(), bare, tt.update)
			if err != nil {
				t.Fatal(err)
			}
			if ran != tt.wantRan {
				t.Errorf("ran = %v, want %v (output %q)", ran, tt.wantRan, out)
			}
			if !tt.wantRan {
				if out != "" {
					t.Errorf("output = %q, want none", out)
				}
				return
			}
			real, _ := filepath.EvalSymlinks(bare)
			if want := real + "\n" + tt.wantIn + "\n"; out != want {
				t.Errorf("hook printed %q, want its directory and stdin %q", out, want)
			}
		})
	}
}
