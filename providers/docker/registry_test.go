package docker_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/docker"
)

// pushRandom writes a random image to ref (on a loopback registry) and
// returns its digest.
func pushRandom(t *testing.T, ref string, auth authn.Authenticator) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestRegistryDigest(t *testing.T) {
	open := testRegistry(t, "", "")
	closed := testRegistry(t, "ci", "pa55word")
	openDigest := pushRandom(t, open+"/p/api:0.0.1", authn.Anonymous)
	closedDigest := pushRandom(t, closed+"/p/api:0.0.1", &authn.Basic{Username: "ci", Password: "pa55word"})
	goodAuth := docker.BasicAuth{Registry: closed, Username: "ci", Password: "pa55word"}

	tests := []struct {
		name     string
		auth     docker.Auth
		image    string
		want     string
		notFound bool
		wantErr  bool
	}{
		{name: "tag present", image: open + "/p/api:0.0.1", want: openDigest},
		{name: "tag missing", image: open + "/p/api:0.0.2", notFound: true},
		{name: "repository missing", image: open + "/nope/api:0.0.1", notFound: true},
		{name: "localhost name", image: strings.Replace(open, "127.0.0.1", "localhost", 1) + "/p/api:0.0.1", want: openDigest},
		{name: "with credentials", auth: goodAuth, image: closed + "/p/api:0.0.1", want: closedDigest},
		{name: "with credentials, tag missing", auth: goodAuth, image: closed + "/p/api:9.9.9", notFound: true},
		{name: "without credentials", image: closed + "/p/api:0.0.1", wantErr: true},
		{name: "registry down", image: closedPort(t) + "/p/api:0.0.1", wantErr: true},
		{name: "bad reference", image: "Not A Reference", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &docker.Registry{Auth: tt.auth}
			got, err := r.Digest(t.Context(), tt.image)
			switch {
			case tt.notFound:
				if !errors.Is(err, providers.ErrNotFound) {
					t.Errorf("Digest(%s) = %q, %v; want ErrNotFound", tt.image, got, err)
				}
			case tt.wantErr:
				if err == nil || errors.Is(err, providers.ErrNotFound) {
					t.Errorf("Digest(%s) = %q, %v; want an error other than ErrNotFound", tt.image, got, err)
				}
			default:
				if err != nil || got != tt.want {
					t.Errorf("Digest(%s) = %q, %v; want %q", tt.image, got, err, tt.want)
				}
			}
		})
	}
}

func TestRegistryCheckPush(t *testing.T) {
	reg := testRegistry(t, "ci", "pa55word")
	tests := []struct {
		name    string
		auth    docker.Auth
		image   string
		wantErr string
	}{
		{name: "allowed", auth: docker.BasicAuth{Registry: reg, Username: "ci", Password: "pa55word"}, image: reg + "/p/api:1"},
		{name: "wrong password", auth: docker.BasicAuth{Registry: reg, Username: "ci", Password: "nope-nope"}, image: reg + "/p/api:1", wantErr: "refused the push: UNAUTHORIZED"},
		{name: "no credentials", image: reg + "/p/api:1", wantErr: "refused the push"},
		{name: "down", image: closedPort(t) + "/p/api:1", wantErr: "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&docker.Registry{Auth: tt.auth}).CheckPush(t.Context(), tt.image)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckPush = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckPush = %v, want an error containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "nope-nope") {
				t.Errorf("CheckPush error leaks the password: %v", err)
			}
		})
	}
}

func TestConfigFileAuth(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	config := fmt.Sprintf(`{
	  "auths": {
	    "https://index.docker.io/v1/": {"auth": %q},
	    "http://127.0.0.1:5000": {"auth": %q},
	    "ghcr.io": {"username": "bot", "password": "ghp_plain"},
	    "broken.example.com": {"auth": "***not base64***"}
	  },
	  "credsStore": "desktop"
	}`, b64("hubuser:hubpass"), b64("local:pa:ss"))
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	a := docker.ConfigFileAuth{Path: path}
	tests := []struct {
		host    string
		want    docker.Credentials
		wantErr bool
	}{
		{host: "docker.io", want: docker.Credentials{Username: "hubuser", Password: "hubpass"}},
		{host: "index.docker.io", want: docker.Credentials{Username: "hubuser", Password: "hubpass"}},
		{host: "127.0.0.1:5000", want: docker.Credentials{Username: "local", Password: "pa:ss"}},
		{host: "GHCR.io", want: docker.Credentials{Username: "bot", Password: "ghp_plain"}},
		{host: "127.0.0.1:5001"},
		{host: "quay.io"},
		{host: "broken.example.com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := a.Credentials(t.Context(), tt.host)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Credentials(%s) = %v, %v; want %v, error %t", tt.host, got, err, tt.want, tt.wantErr)
			}
		})
	}

	t.Run("missing file is anonymous", func(t *testing.T) {
		got, err := docker.ConfigFileAuth{Path: filepath.Join(dir, "nope.json")}.Credentials(t.Context(), "docker.io")
		if err != nil || !got.Anonymous() {
			t.Errorf("Credentials = %v, %v; want anonymous, nil", got, err)
		}
	})
	t.Run("invalid JSON does not quote the file", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, []byte(`{"auths": {"x": {"auth": "c2VjcmV0"`), 0o600)
		_, err := docker.ConfigFileAuth{Path: bad}.Credentials(t.Context(), "x")
		if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("Credentials = %v; want an error without the file's content", err)
		}
	})
}

func TestBasicAuthScopedToItsRegistry(t *testing.T) {
	a := docker.BasicAuth{Registry: "registry.example.com:5000", Username: "ci", Password: "hunter2"}
	tests := []struct {
		host string
		want docker.Credentials
	}{
		{"registry.example.com:5000", docker.Credentials{Username: "ci", Password: "hunter2"}},
		{"https://registry.example.com:5000/v2/", docker.Credentials{Username: "ci", Password: "hunter2"}},
		{"registry.example.com", docker.Credentials{}},
		{"docker.io", docker.Credentials{}},
	}
	for _, tt := range tests {
		got, err := a.Credentials(t.Context(), tt.host)
		if err != nil || got != tt.want {
			t.Errorf("Credentials(%s) = %v, %v; want %v", tt.host, got, err, tt.want)
		}
	}
}

// TestCredentialsNotPrinted checks that formatting credentials, as a
// careless log line would, never shows the password.
func TestCredentialsNotPrinted(t *testing.T) {
	const secret = "hunter2-secret"
	values := []any{
		docker.Credentials{Username: "ci", Password: secret},
		docker.BasicAuth{Registry: "r.example.com", Username: "ci", Password: secret},
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if got := fmt.Sprintf(verb, v); strings.Contains(got, secret) {
				t.Errorf("Sprintf(%q, %T) = %q shows the password", verb, v, got)
			}
		}
	}
}
