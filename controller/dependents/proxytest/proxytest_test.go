package proxytest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/controller/dependents/proxytest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProxyServesProtocol(t *testing.T) {
	px := proxytest.New(t,
		proxytest.Module{Path: "example.com/Upper", Version: "v1.0.0"},
		proxytest.Module{Path: "example.com/Upper", Version: "v1.1.0"},
		proxytest.Module{Path: "example.com/Upper", Version: "v1.2.0-rc.1"},
	)
	tests := []struct {
		path       string
		wantStatus int
		want       string
	}{
		{"/example.com/!upper/@v/list", 200, "v1.0.0\nv1.1.0\nv1.2.0-rc.1\n"},
		{"/example.com/!upper/@v/v1.0.0.mod", 200, "module example.com/Upper\n\ngo 1.22\n"},
		{"/example.com/Upper/@v/list", 404, ""},
		{"/example.com/!upper/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := get(t, px.URL+tt.path)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d", status, tt.wantStatus)
			}
			if tt.want != "" && body != tt.want {
				t.Errorf("body = %q, want %q", body, tt.want)
			}
		})
	}
	_, latest := get(t, px.URL+"/example.com/!upper/@latest")
	var info struct{ Version string }
	if err := json.Unmarshal([]byte(latest), &info); err != nil || info.Version != "v1.1.0" {
		t.Errorf("@latest = %s (%v), want version v1.1.0 (the highest release)", latest, err)
	}
	if got := px.RequestsFor("/example.com/!upper/@v/list"); got != 1 {
		t.Errorf("RequestsFor(list) = %d, want 1", got)
	}
}

// TestGoToolResolves checks the go tool builds a module against the
// proxy's directory, offline.
func TestGoToolResolves(t *testing.T) {
	px := proxytest.New(t,
		proxytest.Module{Path: "example.com/lib", Version: "v1.0.0", Files: map[string]string{
			"lib.go": "package lib\n\nfunc Name() string { return \"v1.0.0\" }\n",
		}},
		proxytest.Module{Path: "example.com/lib", Version: "v1.1.0", Files: map[string]string{
			"lib.go": "package lib\n\nfunc Name() string { return \"v1.1.0\" }\n",
		}},
	)
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.22\n\nrequire example.com/lib v1.0.0\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Print(lib.Name()) }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), px.Env()...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	if got := run("run", "."); got != "v1.0.0" {
		t.Errorf("go run = %q, want v1.0.0", got)
	}
	run("get", "example.com/lib@v1.1.0")
	if got := run("run", "."); got != "v1.1.0" {
		t.Errorf("after go get, go run = %q, want v1.1.0", got)
	}
}
