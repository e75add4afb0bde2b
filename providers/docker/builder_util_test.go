package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// file is one entry of a test source tree.
type file struct {
	data string
	mode int64  // 0 means 0o644
	link string // if set, the entry is a symbolic link to link
}

// tarSource is a providers.Source serving one tree at one revision.
type tarSource struct {
	rev string
	tar []byte
}

func (s tarSource) Archive(_ context.Context, ref string, w io.Writer) error {
	if ref != s.rev {
		return fmt.Errorf("revision %s: %w", ref, providers.ErrNotFound)
	}
	_, err := w.Write(s.tar)
	return err
}

// newSource returns a Source serving files at rev as git archive would:
// a pax global header first, the entries in name order, and zero padding
// after the end marker.
func newSource(t testing.TB, rev string, files map[string]file) tarSource {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": rev}}); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := files[name]
		if f.link != "" {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: f.link, Mode: 0o777}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(f.data)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	// git archive pads its output to a 10 KiB record after the end marker.
	if r := buf.Len() % 10240; r != 0 {
		buf.Write(make([]byte, 10240-r))
	}
	return tarSource{rev: rev, tar: buf.Bytes()}
}

// sampleMain is the sample service: a static HTTP server.
const sampleMain = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, os.Getenv("VERSION"))
	})
	http.ListenAndServe(":8080", nil)
}
`

// sampleProject is a Go service built by its build command into a
// FROM scratch image, with a .dockerignore.
func sampleProject() map[string]file {
	return map[string]file{
		"go.mod":        {data: "module example.com/sample\n\ngo 1.22\n"},
		"main.go":       {data: sampleMain},
		"README.md":     {data: "# sample\n"},
		".dockerignore": {data: "*.md\n*.go\ngo.mod\n"},
		"Dockerfile":    {data: "FROM scratch\nCOPY app /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"},
	}
}

// sampleCommand builds the sample; the environment pins the toolchain so
// the build never reaches the network.
const sampleCommand = "GOFLAGS= GOWORK=off GOTOOLCHAIN=local go build -trimpath -o app ."

// testRegistry serves an in-memory registry on loopback and returns its
// host:port. With user set, every request needs that basic auth.
func testRegistry(t testing.TB, user, password string) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="mainline-test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// closedPort returns a loopback host:port nobody listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// fixedClock is a Clock that always says the same time.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a build.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// layerID matches the classic builder's " ---> 1a2b3c4d5e6f" lines.
var layerID = regexp.MustCompile(`(?m)^ ---> ([0-9a-f]{12})$`)

// removeImages registers a clean-up that removes ref and the intermediate
// images named in the build log (left behind by failed builds). Images still
// used by another image are left alone.
func removeImages(t testing.TB, cli *client.Client, ref string, buildLog *syncBuffer) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove image %s: %v", ref, err)
		}
		ids := layerID.FindAllStringSubmatch(buildLog.String(), -1)
		for i := len(ids) - 1; i >= 0; i-- {
			cli.ImageRemove(ctx, ids[i][1], image.RemoveOptions{PruneChildren: true})
		}
	})
}

// testSpec returns a BuildSpec pushing to reg, labelled for clean-up.
func testSpec(t testing.TB, reg, build, version string) providers.BuildSpec {
	t.Helper()
	labels := dockertest.Labels(t)
	suffix := strings.ToLower(strings.ReplaceAll(dockertest.RunLabel(labels)[len("mainline.test.run="):], "_", "-"))
	return providers.BuildSpec{
		Project:    "sample",
		Build:      build,
		Version:    version,
		Revision:   "0123456789abcdef0123456789abcdef01234567",
		SourceURL:  "https://github.com/mainline-cd/sample",
		Image:      fmt.Sprintf("%s/sample/%s-%s:%s", reg, build, shorten(suffix), version),
		Dockerfile: "Dockerfile",
		Timeout:    2 * time.Minute,
		Labels:     labels,
	}
}

// shorten keeps repository names within reason.
func shorten(s string) string {
	s = strings.Trim(regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(s, "-"), "-")
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	return strings.Trim(s, "-")
}
