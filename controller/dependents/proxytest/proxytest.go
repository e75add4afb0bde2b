// Package proxytest is a Go module proxy that tests control: a directory in
// the file-system proxy layout (for GOPROXY=file://… used by the go tool)
// holding the module versions a test describes, and an httptest server of
// the same files for Mainline's own lookups. Every expected upgrade is
// known, and no test needs the internet.
//
//	px := proxytest.New(t,
//		proxytest.Module{Path: "example.com/lib", Version: "v1.0.0", Files: map[string]string{"lib.go": "package lib\n"}},
//	)
//	cmd.Env = append(os.Environ(), px.Env()...) // the go tool reads px.Dir
//	index := goproxy.New(goproxy.Config{Proxy: px.URL}) // Mainline asks px.URL
//
// Only tests import this package.
package proxytest

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/mainline-cd/mainline/providers/goproxy"
)

// Module is one version of a module to publish.
type Module struct {
	Path    string
	Version string
	// Files are the module's files by slash-separated path. A go.mod is
	// written ("module Path\n\ngo 1.22\n") when Files has none.
	Files map[string]string
	// Time is the publication time in the .info file; zero is 2024-01-01
	// plus a minute per version published before, so order is stable.
	Time time.Time
}

// Proxy is a module proxy on disk and over HTTP.
type Proxy struct {
	// Dir is the proxy's root directory; GOPROXY=file://Dir.
	Dir string
	// URL is the base URL of the HTTP server of Dir.
	URL string
	// ModCache is a module cache of the test's own (GOMODCACHE in Env):
	// tests publish different contents under the same module versions, so
	// the user's cache must not be shared.
	ModCache string

	t        testing.TB
	mu       sync.Mutex
	n        int
	requests atomic.Int64
	paths    sync.Map // request path → *atomic.Int64
}

// New starts a proxy holding mods; it is removed when the test ends.
func New(t testing.TB, mods ...Module) *Proxy {
	t.Helper()
	p := &Proxy{Dir: t.TempDir(), ModCache: t.TempDir(), t: t}
	files := http.FileServer(http.Dir(p.Dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		c, _ := p.paths.LoadOrStore(r.URL.Path, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings: a proxy has none
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	p.Add(mods...)
	return p
}

// Add publishes more module versions (a new tag reaching the proxy).
func (p *Proxy) Add(mods ...Module) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range mods {
		if err := p.add(m); err != nil {
			p.t.Fatalf("proxytest: %s@%s: %v", m.Path, m.Version, err)
		}
	}
}

func (p *Proxy) add(m Module) error {
	if !semver.IsValid(m.Version) {
		return fmt.Errorf("invalid version")
	}
	esc, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	ever, err := module.EscapeVersion(m.Version)
	if err != nil {
		return err
	}
	dir := filepath.Join(p.Dir, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]string{}
	for k, v := range m.Files {
		files[k] = v
	}
	if _, ok := files["go.mod"]; !ok {
		files["go.mod"] = fmt.Sprintf("module %s\n\ngo 1.22\n", m.Path)
	}
	at := m.Time
	if at.IsZero() {
		at = time.Date(2024, 1, 1, 0, p.n, 0, 0, time.UTC)
	}
	p.n++
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{m.Version, at.UTC()})

	zipped, err := goproxy.ModuleZip(m.Path, m.Version, files)
	if err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	if err := zipSane(zipped); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		ever + ".info": info,
		ever + ".mod":  []byte(files["go.mod"]),
		ever + ".zip":  zipped,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	// The list holds tagged versions only, as a real proxy's does.
	listPath := filepath.Join(dir, "list")
	old, _ := os.ReadFile(listPath)
	vs := strings.Fields(string(old))
	if !module.IsPseudoVersion(m.Version) && !slices.Contains(vs, m.Version) {
		vs = append(vs, m.Version)
	}
	semver.Sort(vs)
	list := strings.Join(vs, "\n")
	if list != "" {
		list += "\n"
	}
	if err := os.WriteFile(listPath, []byte(list), 0o644); err != nil {
		return err
	}
	// @latest names the highest release, else the highest version.
	latest := m.Version
	if len(vs) > 0 {
		latest = vs[len(vs)-1]
		for i := len(vs) - 1; i >= 0; i-- {
			if semver.Prerelease(vs[i]) == "" {
				latest = vs[i]
				break
			}
		}
	}
	latestInfo, err := os.ReadFile(filepath.Join(dir, mustEscapeVersion(latest)+".info"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.Dir, filepath.FromSlash(esc), "@latest"), latestInfo, 0o644)
}

func mustEscapeVersion(v string) string {
	e, err := module.EscapeVersion(v)
	if err != nil {
		panic(err)
	}
	return e
}

// zipSane checks the zip opens, as the go tool will.
func zipSane(b []byte) error {
	_, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	return err
}

// GOPROXY is the value of GOPROXY for the go tool: file://Dir.
func (p *Proxy) GOPROXY() string { return "file://" + filepath.ToSlash(p.Dir) }

// Env is the environment the go tool needs to resolve modules from this
// proxy only: no checksum database, no toolchain download, no workspace,
// and the proxy's own module cache (writable, so the test can remove it).
func (p *Proxy) Env() []string {
	return []string{
		"GOPROXY=" + p.GOPROXY(),
		"GOMODCACHE=" + p.ModCache,
		"GOSUMDB=off",
		"GONOSUMDB=*",
		"GONOSUMCHECK=1",
		"GOPRIVATE=",
		"GONOPROXY=",
		"GOFLAGS=-mod=mod -modcacherw -buildvcs=false",
		"GOTOOLCHAIN=local",
		"GOWORK=off",
	}
}

// Requests is how many HTTP requests the server answered.
func (p *Proxy) Requests() int { return int(p.requests.Load()) }

// RequestsFor is how many HTTP requests asked for path (e.g.
// "/example.com/lib/@v/list").
func (p *Proxy) RequestsFor(path string) int {
	c, ok := p.paths.Load(path)
	if !ok {
		return 0
	}
	return int(c.(*atomic.Int64).Load())
}
