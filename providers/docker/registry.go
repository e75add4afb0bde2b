package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/mainline-cd/mainline/providers"
)

// Registry answers what an image registry holds, over the registry HTTP API
// (github.com/google/go-containerregistry), without the Docker Engine. The
// build stage asks it before building, so a tag that already has an image is
// recorded instead of rebuilt, and polls it for images built elsewhere.
//
// Registries on loopback (127.0.0.0/8, ::1, localhost) are spoken to over
// plain HTTP, as the Docker Engine does.
type Registry struct {
	// Auth supplies credentials; nil means anonymous.
	Auth Auth
	// Transport is used for the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

var _ providers.Registry = (*Registry)(nil)

// Digest returns the manifest digest of image ("sha256:…") as the registry
// reports it to a HEAD request, or an error wrapping providers.ErrNotFound
// when the registry has no such tag or repository.
func (r *Registry) Digest(ctx context.Context, image string) (string, error) {
	ref, err := parseReference(image)
	if err != nil {
		return "", err
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain{ctx: ctx, auth: r.Auth}),
	}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("image %s: %w", image, providers.ErrNotFound)
		}
		return "", fmt.Errorf("image %s: %w", image, err)
	}
	return desc.Digest.String(), nil
}

// parseReference parses image, marking loopback registries insecure.
func parseReference(image string) (name.Reference, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", image, err)
	}
	if isLoopback(ref.Context().RegistryStr()) {
		ref, err = name.ParseReference(image, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("image reference %q: %w", image, err)
		}
	}
	return ref, nil
}

// isLoopback reports whether a registry host[:port] is on this machine.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isNotFound reports whether a registry error means the manifest is not
// there. A HEAD response has no body, so only the status code tells.
func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

// CheckPush asks the registry whether Auth's credentials may push image, by
// starting (and abandoning) a blob upload, so a refused push fails at once
// with the registry's own words instead of after the Docker Engine's
// retries.
func (r *Registry) CheckPush(ctx context.Context, image string) error {
	ref, err := parseReference(image)
	if err != nil {
		return err
	}
	base := r.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	err = remote.CheckPushPermission(ref, keychain{ctx: ctx, auth: r.Auth}, ctxTransport{ctx: ctx, base: base})
	if err != nil {
		return fmt.Errorf("push %s: %s: %w", image, pushProblem(ref.Context().RegistryStr(), err), err)
	}
	return nil
}

// pushProblem says in a few words why a registry cannot take a push: it is
// unreachable, or it answered with an error.
func pushProblem(host string, err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		var msgs []string
		for _, d := range te.Errors {
			msgs = append(msgs, d.String())
		}
		if len(msgs) == 0 {
			msgs = append(msgs, http.StatusText(te.StatusCode))
		}
		return fmt.Sprintf("registry %s refused the push: %s", host, strings.Join(msgs, "; "))
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Sprintf("registry %s unreachable: %v", host, oe)
	}
	return fmt.Sprintf("registry %s: %v", host, err)
}

// ctxTransport sends every request under ctx, for go-containerregistry
// calls that take no context of their own.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}
