package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/mainline-cd/mainline/providers/goproxy"
)

// The demo gives dependents day something real to do: the sample service
// requires a tiny module, example.com/greeting, at v1.0.0, and the demo
// keeps a Go module proxy in its data directory (the file-system layout
// GOPROXY=file://… reads) that also holds v1.1.0. `mainline deps run`
// pointed at that proxy finds the upgrade, opens a pull request, checks
// and merges it, and the merge deploys.
//
// The sample vendors the module (vendor/ is written with the sample), so
// building it — by Mainline's builder, by the tests, or by hand in the
// clone — needs neither the proxy nor the network; only dependents day,
// which runs go mod tidy and go mod vendor, reads the proxy.
const (
	greetingModule  = "example.com/greeting"
	greetingCurrent = "v1.0.0" // what the sample requires
	greetingNewest  = "v1.1.0" // what dependents day upgrades it to
	// demoProxyDir is the proxy's directory under the demo's data
	// directory.
	demoProxyDir = "goproxy"
)

// greetingVersions lists the versions of example.com/greeting the demo's
// proxy publishes, oldest first.
func greetingVersions() []string { return []string{greetingCurrent, greetingNewest} }

// greetingFiles returns the files of example.com/greeting at version,
// by slash-separated path. Every version has the same files, so an
// upgrade of vendor/ only changes them.
func greetingFiles(version string) map[string]string {
	hello := "func Hello(msg string) string { return msg }"
	if version != greetingCurrent {
		hello = "func Hello(msg string) string { return msg + \"!\" }"
	}
	return map[string]string{
		"go.mod": "module " + greetingModule + "\n\ngo 1.22\n",
		"greeting.go": `// Package greeting words a service's greeting. It is published only by the
// module proxy mainline demo keeps in its data directory, at ` + strings.Join(greetingVersions(), " and ") + `,
// so that dependents day has an upgrade to make.
package greeting

// Version is the version of this module.
const Version = "` + version + `"

// Hello returns msg as the service should say it.
` + hello + "\n",
	}
}

// greetingPublished is when each version was published, as the proxy's
// .info files say: fixed, so the files are the same on every run.
func greetingPublished(version string) time.Time {
	if version == greetingCurrent {
		return time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	}
	return time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
}

// writeDemoProxy writes the demo's module proxy into dir in the GOPROXY
// file-system layout (example.com/greeting/@v/list, vX.info, .mod, .zip,
// and @latest) and returns the GOPROXY value that reads it, file://dir.
// Existing files are overwritten with the same content, so it is safe to
// call on every run.
func writeDemoProxy(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("module proxy: %w", err)
	}
	esc, err := module.EscapePath(greetingModule)
	if err != nil {
		return "", fmt.Errorf("module proxy: %w", err)
	}
	modDir := filepath.Join(abs, filepath.FromSlash(esc))
	if err := os.MkdirAll(filepath.Join(modDir, "@v"), 0o755); err != nil {
		return "", fmt.Errorf("module proxy: %w", err)
	}
	var info []byte
	for _, v := range greetingVersions() {
		files := greetingFiles(v)
		info, err = json.Marshal(struct {
			Version string
			Time    time.Time
		}{v, greetingPublished(v)})
		if err != nil {
			return "", err
		}
		zip, err := goproxy.ModuleZip(greetingModule, v, files)
		if err != nil {
			return "", fmt.Errorf("module proxy: %s@%s: %w", greetingModule, v, err)
		}
		for ext, data := range map[string][]byte{".info": info, ".mod": []byte(files["go.mod"]), ".zip": zip} {
			if err := writeFileAtomic(filepath.Join(modDir, "@v", v+ext), data, 0o644); err != nil {
				return "", fmt.Errorf("module proxy: %w", err)
			}
		}
	}
	list := strings.Join(greetingVersions(), "\n") + "\n"
	if err := writeFileAtomic(filepath.Join(modDir, "@v", "list"), []byte(list), 0o644); err != nil {
		return "", fmt.Errorf("module proxy: %w", err)
	}
	// @latest is the newest version's .info, the last one written.
	if err := writeFileAtomic(filepath.Join(modDir, "@latest"), info, 0o644); err != nil {
		return "", fmt.Errorf("module proxy: %w", err)
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// writeSampleDeps writes what the sample needs of example.com/greeting
// beside its go.mod: go.sum, and vendor/ holding the version it requires,
// as go mod tidy and go mod vendor would.
func writeSampleDeps(dir string) error {
	files := greetingFiles(greetingCurrent)
	sum, err := goSumLines(greetingModule, greetingCurrent, files)
	if err != nil {
		return fmt.Errorf("write sample: %w", err)
	}
	out := map[string]string{
		"go.sum":             sum,
		"vendor/modules.txt": "# " + greetingModule + " " + greetingCurrent + "\n## explicit; go 1.22\n" + greetingModule + "\n",
	}
	for name, data := range files {
		if name != "go.mod" { // go mod vendor leaves go.mod out
			out["vendor/"+greetingModule+"/"+name] = data
		}
	}
	for name, data := range out {
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("write sample: %w", err)
		}
		if err := os.WriteFile(dst, []byte(data), 0o644); err != nil {
			return fmt.Errorf("write sample: %w", err)
		}
	}
	return nil
}

// goSumLines returns the two go.sum lines of path@version: the hash of
// its files and the hash of its go.mod.
func goSumLines(path, version string, files map[string]string) (string, error) {
	// Hash1 opens the zip's names (path@version/file) for the first
	// line and "go.mod" for the second.
	open := func(name string) (io.ReadCloser, error) {
		name = strings.TrimPrefix(name, path+"@"+version+"/")
		data, ok := files[name]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return io.NopCloser(strings.NewReader(data)), nil
	}
	var names []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		names = append(names, path+"@"+version+"/"+name)
	}
	h, err := dirhash.Hash1(names, open)
	if err != nil {
		return "", err
	}
	hmod, err := dirhash.Hash1([]string{"go.mod"}, open)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, version, h, path, version, hmod), nil
}
