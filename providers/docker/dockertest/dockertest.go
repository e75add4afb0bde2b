// Package dockertest holds helpers for tests that run against the real
// Docker Engine: a client that fails the test when the engine is unreachable
// (these tests never skip), a tiny FROM scratch sample service image built
// on the spot, and clean-up of everything a test created, by label.
//
// Tests of providers/docker and of the controller's deploy tests import it.
// It does not import providers/docker, so tests inside that package can use
// it too.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// The sample service's fixed facts, for InstanceSpecs and health checks.
const (
	SamplePort       = 8080       // port the sample listens on inside its container
	SampleHealthPath = "/healthz" // answers 200 "ok", or 503 when built Unhealthy
	// SampleVersionHeader carries the version on every "/" response; the
	// body is the version followed by a newline.
	SampleVersionHeader = "Sample-Version"
)

// TestLabel marks every container, image and network a test creates, so
// that anything a crashed test left behind can be found and removed.
const TestLabel = "mainline.test"

// runLabel names one test's resources inside TestLabel.
const runLabel = "mainline.test.run"

//go:embed testdata/sample/main.go
var sampleMain []byte

// cleanupTimeout bounds each clean-up call; t.Context is already cancelled
// when clean-ups run.
const cleanupTimeout = 60 * time.Second

// Client connects to the Docker Engine from the environment, negotiating the
// API version, and closes the client when the test ends. If the engine is
// unreachable it fails the test with a clear message: tests that need
// Docker must run, never skip.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("dockertest: docker client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("dockertest: the Docker Engine is not reachable at %s (%v); this test needs a running Docker Engine and does not skip", cli.DaemonHost(), err)
	}
	return cli
}

// Labels returns labels unique to this test: TestLabel=1 and a run label
// with the test's name and a random suffix. Put them on everything the test
// creates and pass RunLabel's value to Cleanup.
func Labels(t testing.TB) map[string]string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	return map[string]string{TestLabel: "1", runLabel: name + "-" + randomHex(t, 4)}
}

// RunLabel returns the "key=value" filter that selects what was created
// with labels (as returned by Labels).
func RunLabel(labels map[string]string) string {
	return runLabel + "=" + labels[runLabel]
}

// Cleanup registers a clean-up, run when the test ends even if it failed,
// that force-removes every container (running or not) carrying label, given
// as "key=value" or "key". Register it before creating containers.
func Cleanup(t testing.TB, cli *client.Client, label string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
		if err != nil {
			t.Errorf("dockertest: list containers labelled %s: %v", label, err)
			return
		}
		for _, c := range list {
			err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("dockertest: remove container %s: %v", c.ID[:12], err)
			}
		}
	})
}

// SampleOptions say which sample image to build. The zero value builds a
// healthy 0.0.1.
type SampleOptions struct {
	Version   string            // answered on "/"; default "0.0.1"
	Unhealthy bool              // /healthz answers 503 (containers may override with SAMPLE_HEALTHY=true)
	Labels    map[string]string // extra image labels; TestLabel=1 is always set
}

// SampleImage builds a FROM scratch image of the sample service and returns
// its tag, "mainline-test/sample:<version>-<random>". When the test ends
// the image is removed, with any container made from it.
//
// The service listens on SamplePort, answers "/" with its version (body and
// SampleVersionHeader), sleeps first when asked ("/?sleep=1s"), answers
// SampleHealthPath with 200 or 503, and on SIGTERM stops taking new
// connections and finishes in-flight requests before exiting (with the
// container environment SAMPLE_EXIT_ON_TERM=true it exits at once
// instead, dropping them). Its binary is
// compiled here with CGO_ENABLED=0, so no image is pulled.
func SampleImage(t testing.TB, cli *client.Client, opts SampleOptions) string {
	t.Helper()
	if opts.Version == "" {
		opts.Version = "0.0.1"
	}
	bin := buildSample(t)

	var dockerfile bytes.Buffer
	fmt.Fprintf(&dockerfile, "FROM scratch\nCOPY app /app\nENV SAMPLE_VERSION=%s SAMPLE_HEALTHY=%t PORT=%d\nEXPOSE %d\nENTRYPOINT [\"/app\"]\n",
		opts.Version, !opts.Unhealthy, SamplePort, SamplePort)
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile.Bytes()}, {"app", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatalf("dockertest: tar %s: %v", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatalf("dockertest: tar %s: %v", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("dockertest: tar: %v", err)
	}

	tag := "mainline-test/sample:" + opts.Version + "-" + randomHex(t, 4)
	labels := map[string]string{TestLabel: "1"}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	t.Cleanup(func() { removeImage(t, cli, tag) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{
		Tags:        []string{tag},
		Labels:      labels,
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		t.Fatalf("dockertest: build %s: %v", tag, err)
	}
	defer resp.Body.Close()
	if err := readBuildStream(resp.Body); err != nil {
		t.Fatalf("dockertest: build %s: %v", tag, err)
	}
	return tag
}

// removeImage removes the containers made from image, then the image: an
// image in use by a container would only lose its tag and stay behind.
func removeImage(t testing.TB, cli *client.Client, tag string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	info, err := cli.ImageInspect(ctx, tag)
	if cerrdefs.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("dockertest: inspect image %s: %v", tag, err)
		return
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("ancestor", info.ID))})
	if err != nil {
		t.Errorf("dockertest: list containers of %s: %v", tag, err)
	}
	for _, c := range list {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("dockertest: remove container %s of %s: %v", c.ID[:12], tag, err)
		}
	}
	if _, err := cli.ImageRemove(ctx, info.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		t.Errorf("dockertest: remove image %s: %v", tag, err)
	}
}

// buildSample compiles the sample service as a static Linux binary and
// returns it. The Go build cache makes every call after the first cheap.
func buildSample(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), sampleMain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module sample\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("dockertest: the sample image needs the go command: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", "app", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dockertest: go build sample: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// readBuildStream reads the engine's JSON progress stream to its end and
// returns the first error it reports.
func readBuildStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	var log strings.Builder
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		log.WriteString(msg.Stream)
		if msg.Error != "" {
			return fmt.Errorf("%s\n%s", msg.Error, log.String())
		}
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
