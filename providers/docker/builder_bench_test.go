package docker_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// BenchmarkBuildPush compares Mainline's Builder with the docker CLI on the
// same sample project (a prebuilt static binary in a FROM scratch image,
// sources left out by .dockerignore), warm cache on both sides: each
// sub-benchmark builds and pushes once before the clock starts. Both tag a
// new version per iteration and set the same labels, created time
// included, so both do the same uncached final step and push a new
// manifest.
//
//   - mainline: Builder.Build — checkout from a tar, context tar with
//     .dockerignore, Engine API build and push.
//   - docker-cli: `docker build --label …` then `docker push` on the
//     checked-out directory (the classic builder, as the engine here has no
//     BuildKit), which makes one build step per label.
//   - docker-cli-label-step: the same with the labels as one LABEL line
//     in the Dockerfile, as Mainline does: the same work for the engine, so
//     the ratio against it is Mainline's own overhead.
//   - docker-cli-cached: only the test's own labels, the same every time,
//     so every step is cached: the least work a build and push of this
//     project can do, a floor rather than a like-for-like baseline.
func BenchmarkBuildPush(b *testing.B) {
	cli := dockertest.Client(b)
	reg := testRegistry(b, "", "")
	bin := compileSample(b)
	files := map[string]file{
		"go.mod":        {data: "module example.com/sample\n\ngo 1.22\n"},
		"main.go":       {data: sampleMain},
		"README.md":     {data: "# sample\n"},
		".dockerignore": {data: "*.md\n*.go\ngo.mod\n"},
		"Dockerfile":    {data: "FROM scratch\nCOPY app /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"},
		"app":           {data: string(bin), mode: 0o755},
	}
	labels := dockertest.Labels(b)
	repo := reg + "/sample/bench-" + shorten(dockertest.RunLabel(labels)[len("mainline.test.run="):])
	var tags []string
	b.Cleanup(func() { removeTags(b, cli, tags) })

	perOp := map[string]time.Duration{}

	b.Run("mainline", func(b *testing.B) {
		builder := &docker.Builder{Client: cli}
		spec := testSpec(b, reg, "bench", "")
		spec.Labels = labels
		src := newSource(b, spec.Revision, files)
		n := 0
		build := func() {
			n++
			spec.Version = fmt.Sprintf("m%d", n)
			spec.Image = repo + ":" + spec.Version
			tags = append(tags, spec.Image)
			var log syncBuffer
			if _, err := builder.Build(context.Background(), src, spec, &log); err != nil {
				b.Fatalf("Build: %v\n%s", err, log.String())
			}
		}
		build() // warm the cache
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			build()
		}
		perOp[b.Name()] = time.Since(start) / time.Duration(b.N)
	})

	dockerCLI, err := exec.LookPath("docker")
	if err != nil {
		b.Logf("no docker CLI (%v); no baseline", err)
		return
	}
	dir := b.TempDir()
	for name, f := range files {
		mode := os.FileMode(f.mode)
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(f.data), mode); err != nil {
			b.Fatal(err)
		}
	}
	baselines := []struct {
		name   string
		labels string // "flags": --label each; "step": one LABEL line in the Dockerfile; "fixed": the test labels only
	}{
		{"docker-cli", "flags"},
		{"docker-cli-label-step", "step"},
		{"docker-cli-cached", "fixed"},
	}
	dockerfile := files["Dockerfile"].data
	for _, base := range baselines {
		b.Run(base.name, func(b *testing.B) {
			n := 0
			build := func() {
				n++
				ref := fmt.Sprintf("%s:%s-%d", repo, base.name, n)
				tags = append(tags, ref)
				all := maps.Clone(labels)
				maps.Copy(all, map[string]string{
					"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
					"org.opencontainers.image.version":  fmt.Sprint(n),
					"org.opencontainers.image.source":   "https://github.com/mainline-cd/sample",
					"org.opencontainers.image.created":  time.Now().UTC().Format(time.RFC3339),
					"mainline.project":                  "sample",
					"mainline.build":                    "bench",
					"mainline.version":                  fmt.Sprint(n),
				})
				args := []string{"build", "-q", "-t", ref}
				switch base.labels {
				case "flags":
					for _, k := range slices.Sorted(maps.Keys(all)) {
						args = append(args, "--label", k+"="+all[k])
					}
				case "step":
					df := dockerfile + "LABEL"
					for _, k := range slices.Sorted(maps.Keys(all)) {
						df += fmt.Sprintf(" %q=%q", k, all[k])
					}
					path := filepath.Join(b.TempDir(), "Dockerfile")
					if err := os.WriteFile(path, []byte(df+"\n"), 0o644); err != nil {
						b.Fatal(err)
					}
					args = append(args, "-f", path)
				case "fixed":
					for _, k := range slices.Sorted(maps.Keys(labels)) {
						args = append(args, "--label", k+"="+labels[k])
					}
				}
				args = append(args, dir)
				runDocker(b, dockerCLI, args...)
				runDocker(b, dockerCLI, "push", "-q", ref)
			}
			build() // warm the cache
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				build()
			}
			perOp[b.Name()] = time.Since(start) / time.Duration(b.N)
		})
	}

	m := perOp["BenchmarkBuildPush/mainline"]
	for _, base := range baselines {
		if d := perOp["BenchmarkBuildPush/"+base.name]; m > 0 && d > 0 {
			b.Logf("mainline %v/op, %s %v/op, ratio %.2f", m, base.name, d, float64(m)/float64(d))
		}
	}
}

func runDocker(b *testing.B, docker string, args ...string) {
	b.Helper()
	cmd := exec.Command(docker, args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0", "DOCKER_CLI_HINTS=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("docker %v: %v\n%s", args, err, out)
	}
}

// compileSample builds the sample service as a static binary.
func compileSample(b *testing.B) []byte {
	b.Helper()
	dir := b.TempDir()
	for name, data := range map[string]string{"go.mod": "module example.com/sample\n\ngo 1.22\n", "main.go": sampleMain} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-c", sampleCommand)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// removeTags removes the images the benchmark tagged.
func removeTags(b *testing.B, cli *client.Client, tags []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ref := range slices.Backward(tags) {
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			b.Logf("remove %s: %v", ref, err)
		}
	}
}
