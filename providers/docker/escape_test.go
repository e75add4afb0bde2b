package docker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// TestBuildContextEscapes: a repository's .mainline.yaml and tree are
// untrusted. A build context or Dockerfile that leaves the checkout — by
// "..", by an absolute path, or through a symbolic link in the tree
// pointing outside — is refused, and no file from outside the checkout
// reaches the engine.
func TestBuildContextEscapes(t *testing.T) {
	cli := dockertest.Client(t)
	reg := testRegistry(t, "", "")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM scratch\nCOPY secret.txt /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hello := map[string]file{
		"hello.txt":  {data: "hello\n"},
		"Dockerfile": {data: "FROM scratch\nCOPY hello.txt /\n"},
	}
	tests := []struct {
		name       string
		context    string
		dockerfile string
		links      map[string]string
	}{
		{name: "context ..", context: ".."},
		{name: "context absolute", context: outside},
		{name: "dockerfile ..", dockerfile: "../../etc/passwd"},
		{name: "context symlink out", context: "ctx", links: map[string]string{"ctx": outside}},
		{name: "context symlink up", context: "ctx", links: map[string]string{"ctx": "../../../../../../../../" + outside}},
		{name: "context under a symlink", context: "ctx/" + filepath.Base(outside), links: map[string]string{"ctx": filepath.Dir(outside)}},
		{name: "dockerfile symlink out", dockerfile: "Dockerfile.link", links: map[string]string{"Dockerfile.link": filepath.Join(outside, "Dockerfile")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]file{}
			for k, v := range hello {
				files[k] = v
			}
			for name, target := range tt.links {
				files[name] = file{link: target}
			}
			spec := testSpec(t, reg, "escape", "0.0.1")
			spec.Context, spec.Dockerfile = tt.context, tt.dockerfile
			var log syncBuffer
			removeImages(t, cli, spec.Image, &log)
			digest, err := (&docker.Builder{Client: cli}).Build(t.Context(), newSource(t, spec.Revision, files), spec, &log)
			if err == nil {
				t.Fatalf("Build = %s, nil; want the escape refused\nlog:\n%s", digest, log.String())
			}
			if msg := err.Error(); !strings.Contains(msg, "outside") && !strings.Contains(msg, "not found in context") {
				t.Errorf("error %q does not say the path is outside (or not in the context)", msg)
			}
			if strings.Contains(log.String(), "secret.txt") {
				t.Errorf("a file from outside the checkout reached the build:\n%s", log.String())
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 2 {
				t.Errorf("the build wrote outside the checkout: %v", entries)
			}
		})
	}
}
