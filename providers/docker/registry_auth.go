package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"
	"github.com/google/go-containerregistry/pkg/authn"
)

// Credentials are what a registry accepts: a user name and a password (or
// token). The zero value means anonymous access. Printing Credentials with
// the fmt package shows the user name only, so a stray log line cannot leak
// the password.
type Credentials struct {
	Username string
	Password string
}

// String shows the user name and hides the password.
func (c Credentials) String() string {
	if c.Username == "" && c.Password == "" {
		return "anonymous"
	}
	return c.Username + ":<redacted>"
}

// GoString hides the password from %#v too.
func (c Credentials) GoString() string { return "docker.Credentials{" + c.String() + "}" }

// Anonymous reports whether c carries no credentials.
func (c Credentials) Anonymous() bool { return c == Credentials{} }

// Auth supplies the credentials for a registry host ("127.0.0.1:5000",
// "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "docker.io"). A host it
// knows nothing about gets anonymous Credentials and no error, so an Auth
// for one registry never hands its secret to another.
//
// The implementations are BasicAuth (explicit user and password),
// ConfigFileAuth (a ~/.docker/config.json-style file) and ECRAuth (Amazon
// ECR tokens).
type Auth interface {
	Credentials(ctx context.Context, host string) (Credentials, error)
}

var (
	_ Auth = BasicAuth{}
	_ Auth = ConfigFileAuth{}
	_ Auth = (*ECRAuth)(nil)
)

// BasicAuth is an explicit user name and password for one registry host.
type BasicAuth struct {
	Registry string // host[:port] the credentials are for
	Username string
	Password string
}

// Credentials returns the user name and password if host is a.Registry.
func (a BasicAuth) Credentials(_ context.Context, host string) (Credentials, error) {
	if normalizeHost(host) != normalizeHost(a.Registry) {
		return Credentials{}, nil
	}
	return Credentials{Username: a.Username, Password: a.Password}, nil
}

// String hides the password.
func (a BasicAuth) String() string { return "basic auth " + a.Username + "@" + a.Registry }

// GoString hides the password from %#v too.
func (a BasicAuth) GoString() string { return "docker.BasicAuth{" + a.String() + "}" }

// ConfigFileAuth reads credentials from a Docker client config file
// (~/.docker/config.json): the "auths" entries, each keyed by registry
// (with or without a scheme) and holding a base64 "user:password" in "auth"
// or a plain "username" and "password". The file is read on every call, so
// a `docker login` takes effect without a restart. Credential helpers
// ("credsStore", "credHelpers") are not consulted.
type ConfigFileAuth struct {
	Path string
}

// configFile is the part of config.json that ConfigFileAuth reads.
type configFile struct {
	Auths map[string]struct {
		Auth     string `json:"auth"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auths"`
}

// Credentials returns the entry for host from the file, or anonymous
// Credentials when the file has none. A missing file is anonymous too.
func (a ConfigFileAuth) Credentials(_ context.Context, host string) (Credentials, error) {
	data, err := os.ReadFile(a.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Credentials{}, nil
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("docker config: %w", err)
	}
	var cf configFile
	if err := json.Unmarshal(data, &cf); err != nil {
		// json errors can quote the input; say where, not what.
		return Credentials{}, fmt.Errorf("docker config %s: invalid JSON", a.Path)
	}
	want := normalizeHost(host)
	for key, e := range cf.Auths {
		if normalizeHost(key) != want {
			continue
		}
		if e.Auth == "" {
			return Credentials{Username: e.Username, Password: e.Password}, nil
		}
		c, err := decodeBasic(e.Auth)
		if err != nil {
			return Credentials{}, fmt.Errorf("docker config %s: auths[%q]: %w", a.Path, key, err)
		}
		return c, nil
	}
	return Credentials{}, nil
}

// decodeBasic decodes base64("user:password"), the form used by Docker
// config files and by ECR authorization tokens.
func decodeBasic(s string) (Credentials, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return Credentials{}, errors.New("auth is not valid base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Credentials{}, errors.New(`auth is not "user:password"`)
	}
	return Credentials{Username: user, Password: pass}, nil
}

// normalizeHost reduces a registry name as written in config files and
// image references ("https://index.docker.io/v1/", "http://127.0.0.1:5000",
// "docker.io") to a bare host[:port], with Docker Hub's aliases folded into
// one.
func normalizeHost(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return s
}

// registryHost returns the registry host of an image reference.
func registryHost(image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", image, err)
	}
	return reference.Domain(named), nil
}

// encodedAuth returns the X-Registry-Auth value the Docker Engine expects
// for a push of image, or "" for anonymous access.
func encodedAuth(ctx context.Context, a Auth, image string) (string, error) {
	if a == nil {
		return "", nil
	}
	host, err := registryHost(image)
	if err != nil {
		return "", err
	}
	c, err := a.Credentials(ctx, host)
	if err != nil {
		return "", fmt.Errorf("registry credentials for %s: %w", host, err)
	}
	if c.Anonymous() {
		return "", nil
	}
	return registry.EncodeAuthConfig(registry.AuthConfig{
		Username:      c.Username,
		Password:      c.Password,
		ServerAddress: host,
	})
}

// keychain adapts an Auth to go-containerregistry's authn.Keychain.
type keychain struct {
	ctx  context.Context
	auth Auth
}

var _ authn.Keychain = keychain{}

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if k.auth == nil {
		return authn.Anonymous, nil
	}
	c, err := k.auth.Credentials(k.ctx, r.RegistryStr())
	if err != nil {
		return nil, fmt.Errorf("registry credentials for %s: %w", r.RegistryStr(), err)
	}
	if c.Anonymous() {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: c.Username, Password: c.Password}, nil
}
