package docker_test

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
	"github.com/mainline-cd/mainline/providers/docker/ecrtest"
)

// registryDigest asks the registry itself, not the code under test, for the
// digest of ref.
func registryDigest(t *testing.T, ref string, auth authn.Authenticator) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r, remote.WithAuth(auth))
	if err != nil {
		t.Fatalf("registry HEAD %s: %v", ref, err)
	}
	return desc.Digest.String()
}

func TestBuildPush(t *testing.T) {
	cli := dockertest.Client(t)
	reg := testRegistry(t, "", "")
	created := time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)
	b := &docker.Builder{Client: cli, Clock: fixedClock{created}}

	spec := testSpec(t, reg, "api", "0.0.1")
	spec.Command = sampleCommand
	src := newSource(t, spec.Revision, sampleProject())
	var log syncBuffer
	removeImages(t, cli, spec.Image, &log)

	digest, err := b.Build(t.Context(), src, spec, &log)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log.String())
	}
	if want := registryDigest(t, spec.Image, authn.Anonymous); digest != want {
		t.Errorf("Build digest = %s, registry says %s", digest, want)
	}
	reg2 := &docker.Registry{}
	if got, err := reg2.Digest(t.Context(), spec.Image); err != nil || got != digest {
		t.Errorf("Registry.Digest = %q, %v; want %q", got, err, digest)
	}

	inspect, err := cli.ImageInspect(t.Context(), spec.Image)
	if err != nil {
		t.Fatalf("inspect %s: %v", spec.Image, err)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.revision": spec.Revision,
		"org.opencontainers.image.version":  "0.0.1",
		"org.opencontainers.image.source":   spec.SourceURL,
		"org.opencontainers.image.created":  "2026-05-01T12:30:00Z",
		"mainline.project":                  "sample",
		"mainline.build":                    "api",
		"mainline.version":                  "0.0.1",
		dockertest.TestLabel:                "1",
	}
	for k, want := range wantLabels {
		if got := inspect.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{"==> " + sampleCommand, "Step 2/", "COPY app /app", "==> pushed"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("build log lacks %q:\n%s", want, log.String())
		}
	}
	// .dockerignore leaves the sources and README out; the context is the
	// Dockerfile, .dockerignore and the binary.
	if strings.Contains(log.String(), "README") {
		t.Errorf("build log mentions README:\n%s", log.String())
	}
}

// TestBuildFailures checks that each bad input ends as a BuildError with a
// one-line reason naming what failed, and the log tail kept.
func TestBuildFailures(t *testing.T) {
	cli := dockertest.Client(t)
	goodReg := testRegistry(t, "", "")
	authReg := testRegistry(t, "ci", "s3cret-passw0rd")
	hello := map[string]file{
		"hello.txt":  {data: "hello\n"},
		"Dockerfile": {data: "FROM scratch\nCOPY hello.txt /\n"},
	}
	with := func(base map[string]file, extra map[string]file) map[string]file {
		out := map[string]file{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			if v.data == "" && v.link == "" {
				delete(out, k)
				continue
			}
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name     string
		files    map[string]file
		reg      string
		auth     docker.Auth
		command  string
		timeout  time.Duration
		revision string // default: the source's revision
		phase    string
		want     []string // substrings of the error
		tail     string   // substring of the log tail
		is       error
	}{
		{
			name:  "missing Dockerfile",
			files: with(hello, map[string]file{"Dockerfile": {}}),
			reg:   goodReg,
			phase: "build",
			want:  []string{"Dockerfile not found"},
		},
		{
			name:  "Dockerfile syntax error",
			files: with(hello, map[string]file{"Dockerfile": {data: "FROM scratch\nFROBNICATE hello.txt\n"}}),
			reg:   goodReg,
			phase: "build",
			want:  []string{"FROBNICATE", "line 2"},
		},
		{
			name:  "file excluded by .dockerignore",
			files: with(hello, map[string]file{".dockerignore": {data: "hello.txt\n"}}),
			reg:   goodReg,
			phase: "build",
			want:  []string{"step 2/", "COPY hello.txt /", "hello.txt"},
		},
		{
			name: "failing build command",
			files: with(sampleProject(), map[string]file{
				"main.go": {data: "package main\n\nfunc main() { undefinedThing() }\n"},
			}),
			reg:     goodReg,
			command: sampleCommand,
			phase:   "command",
			want:    []string{"build command", "exit code 1", "undefined: undefinedThing"},
			tail:    "undefined: undefinedThing",
		},
		{
			name:    "build timeout",
			files:   hello,
			reg:     goodReg,
			command: "echo waiting; sleep 60",
			timeout: time.Second,
			phase:   "command",
			want:    []string{"timed out after 1s"},
			tail:    "waiting",
			is:      context.DeadlineExceeded,
		},
		{
			name:  "registry refusing auth",
			files: hello,
			reg:   authReg,
			auth:  docker.BasicAuth{Registry: authReg, Username: "ci", Password: "wrong-password"},
			phase: "push",
			want:  []string{"push: registry " + authReg + " refused the push: UNAUTHORIZED"},
		},
		{
			name:  "registry down",
			files: hello,
			reg:   closedPort(t),
			phase: "push",
			want:  []string{"push: registry", "unreachable", "connection refused"},
		},
		{
			name:  "source path leaving the tree",
			files: with(hello, map[string]file{"../escape.txt": {data: "x"}}),
			reg:   goodReg,
			phase: "checkout",
			want:  []string{"leaves the tree"},
		},
		{
			name:  "source symlink leading out of the tree",
			files: with(hello, map[string]file{"out": {link: "/tmp"}, "out/escape.txt": {data: "x"}}),
			reg:   goodReg,
			phase: "checkout",
			want:  []string{"out/escape.txt"},
		},
		{
			name:     "revision not in the source",
			files:    hello,
			reg:      goodReg,
			revision: "ffffffffffffffffffffffffffffffffffffffff",
			phase:    "checkout",
			want:     []string{"revision ffffffffffffffffffffffffffffffffffffffff not found"},
			is:       providers.ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &docker.Builder{Client: cli, Auth: tt.auth}
			spec := testSpec(t, tt.reg, "bad", "0.0.1")
			spec.Command = tt.command
			if tt.timeout != 0 {
				spec.Timeout = tt.timeout
			}
			src := newSource(t, spec.Revision, tt.files)
			if tt.revision != "" {
				spec.Revision = tt.revision
			}
			var log syncBuffer
			removeImages(t, cli, spec.Image, &log)

			digest, err := b.Build(t.Context(), src, spec, &log)
			if err == nil {
				t.Fatalf("Build = %s, nil; want an error\nlog:\n%s", digest, log.String())
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if !strings.HasPrefix(msg, "build sample/bad@0.0.1: ") {
				t.Errorf("error %q does not name the build", msg)
			}
			var be *docker.BuildError
			if !errors.As(err, &be) {
				t.Fatalf("error %q is not a *docker.BuildError", msg)
			}
			if be.Phase != tt.phase {
				t.Errorf("Phase = %q, want %q (error %q)", be.Phase, tt.phase, msg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%q, %v) = false", msg, tt.is)
			}
			if tt.tail != "" && !strings.Contains(strings.Join(be.Tail, "\n"), tt.tail) {
				t.Errorf("log tail lacks %q:\n%s", tt.tail, strings.Join(be.Tail, "\n"))
			}
			if strings.Contains(msg+log.String(), "wrong-password") || strings.Contains(msg+log.String(), "s3cret") {
				t.Errorf("a password leaked into the error or log")
			}
		})
	}
}

// TestBuildPushAuth pushes to a registry that needs credentials, with each
// kind of Auth.
func TestBuildPushAuth(t *testing.T) {
	cli := dockertest.Client(t)
	const user, password = "AWS", "ecr-t0ken-secret"
	reg := testRegistry(t, user, password)

	configPath := filepath.Join(t.TempDir(), "config.json")
	config := `{"auths": {"other.example.com": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("x:y")) +
		`"}, "http://` + reg + `": {"auth": "` + base64.StdEncoding.EncodeToString([]byte(user+":"+password)) + `"}}}`
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ecrFake := ecrtest.NewServer(t, ecrtest.Token{Username: user, Password: password, ProxyEndpoint: "http://" + reg})

	tests := []struct {
		name string
		auth docker.Auth
	}{
		{"user and password", docker.BasicAuth{Registry: reg, Username: user, Password: password}},
		{"docker config file", docker.ConfigFileAuth{Path: configPath}},
		{"ECR token", docker.NewECRAuth(ecrFake.Client(), nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &docker.Builder{Client: cli, Auth: tt.auth}
			spec := testSpec(t, reg, "auth", "0.0.1")
			src := newSource(t, spec.Revision, map[string]file{
				"hello.txt":  {data: "hello " + tt.name + "\n"},
				"Dockerfile": {data: "FROM scratch\nCOPY hello.txt /\n"},
			})
			var log syncBuffer
			removeImages(t, cli, spec.Image, &log)

			digest, err := b.Build(t.Context(), src, spec, &log)
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log.String())
			}
			if want := registryDigest(t, spec.Image, &authn.Basic{Username: user, Password: password}); digest != want {
				t.Errorf("Build digest = %s, registry says %s", digest, want)
			}
			r := &docker.Registry{Auth: tt.auth}
			if got, err := r.Digest(t.Context(), spec.Image); err != nil || got != digest {
				t.Errorf("Registry.Digest = %q, %v; want %q", got, err, digest)
			}
			if strings.Contains(log.String(), password) {
				t.Errorf("the password leaked into the build log")
			}
		})
	}
	if ecrFake.Calls() != 1 {
		t.Errorf("ECR GetAuthorizationToken calls = %d, want 1 (the token is cached)", ecrFake.Calls())
	}
}

// imageFiles lists the regular files in the layers of image ref, as the
// engine exports it.
func imageFiles(t *testing.T, cli *client.Client, ref string) []string {
	t.Helper()
	rc, err := cli.ImageSave(t.Context(), []string{ref})
	if err != nil {
		t.Fatalf("save %s: %v", ref, err)
	}
	defer rc.Close()
	var files []string
	outer := tar.NewReader(rc)
	for {
		hdr, err := outer.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("save %s: %v", ref, err)
		}
		if path.Base(hdr.Name) != "layer.tar" && !strings.HasPrefix(hdr.Name, "blobs/") {
			continue
		}
		inner := tar.NewReader(outer)
		for {
			h, err := inner.Next()
			if err != nil {
				break // end of the layer, or a blob that is not a layer
			}
			if h.Typeflag == tar.TypeReg {
				files = append(files, h.Name)
			}
		}
	}
	sort.Strings(files)
	return files
}

// TestBuildContextAndLabels checks what goes into the image: the context
// directory less .dockerignore, and labels exactly as given, whatever
// characters they hold.
func TestBuildContextAndLabels(t *testing.T) {
	cli := dockertest.Client(t)
	reg := testRegistry(t, "", "")
	const copyAll = "FROM scratch\nCOPY . /ctx/\n"
	tests := []struct {
		name       string
		files      map[string]file
		context    string
		dockerfile string
		labels     map[string]string
		want       []string // files in the image
	}{
		{
			name: "dockerignore honoured",
			files: map[string]file{
				"Dockerfile":    {data: copyAll},
				".dockerignore": {data: "# comment\n*.md\nsecret/\n"},
				"a.txt":         {data: "a"},
				"README.md":     {data: "readme"},
				"secret/key":    {data: "key"},
				"sub/b.txt":     {data: "b"},
			},
			want: []string{"ctx/.dockerignore", "ctx/Dockerfile", "ctx/a.txt", "ctx/sub/b.txt"},
		},
		{
			name: "no dockerignore",
			files: map[string]file{
				"Dockerfile": {data: copyAll},
				"a.txt":      {data: "a"},
			},
			want: []string{"ctx/Dockerfile", "ctx/a.txt"},
		},
		{
			name: "dockerignore leaves out itself and the Dockerfile",
			files: map[string]file{
				"Dockerfile":    {data: copyAll},
				".dockerignore": {data: ".dockerignore\nDockerfile"},
				"a.txt":         {data: "a"},
			},
			want: []string{"ctx/a.txt"},
		},
		{
			name: "context and Dockerfile in subdirectories",
			files: map[string]file{
				"README.md":              {data: "outside the context"},
				"svc/build/Dockerfile":   {data: copyAll},
				"svc/a.txt":              {data: "a"},
				"svc/build/.placeholder": {data: "x"},
			},
			context:    "svc",
			dockerfile: "build/Dockerfile",
			want:       []string{"ctx/a.txt", "ctx/build/.placeholder", "ctx/build/Dockerfile"},
		},
		{
			name: "label values with quotes, dollars and escapes",
			files: map[string]file{
				"Dockerfile": {data: copyAll},
				"a.txt":      {data: "a"},
			},
			labels: map[string]string{"odd": `say "hi" to $HOME \ ` + "`now` ${X}", "with space": "a b", "multi": "line 1\nline 2"},
			want:   []string{"ctx/Dockerfile", "ctx/a.txt"},
		},
		{
			name: "escape directive",
			files: map[string]file{
				"Dockerfile": {data: "# escape=`\n" + copyAll},
				"a.txt":      {data: "a"},
			},
			labels: map[string]string{"odd": `C:\path "q" $V ` + "`tick`"},
			want:   []string{"ctx/Dockerfile", "ctx/a.txt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &docker.Builder{Client: cli}
			spec := testSpec(t, reg, "ctx", "0.0.1")
			spec.Context, spec.Dockerfile = tt.context, tt.dockerfile
			for k, v := range tt.labels {
				spec.Labels[k] = v
			}
			src := newSource(t, spec.Revision, tt.files)
			var log syncBuffer
			removeImages(t, cli, spec.Image, &log)
			if _, err := b.Build(t.Context(), src, spec, &log); err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log.String())
			}
			if got := imageFiles(t, cli, spec.Image); !slices.Equal(got, tt.want) {
				t.Errorf("files in the image = %q, want %q", got, tt.want)
			}
			inspect, err := cli.ImageInspect(t.Context(), spec.Image)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.labels {
				if got := inspect.Config.Labels[k]; got != want {
					t.Errorf("label %q = %q, want %q", k, got, want)
				}
			}
		})
	}
}
