package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// ECRClient is the one Amazon ECR call ECRAuth makes; *ecr.Client has it.
// Tests point a real *ecr.Client at a fake (see package ecrtest).
type ECRClient interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, opts ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

var _ ECRClient = (*ecr.Client)(nil)

// ecrRefreshMargin is how long before its expiry a token is replaced, so a
// push that starts with a token does not end without one.
const ecrRefreshMargin = 30 * time.Minute

// ECRAuth gets registry credentials from Amazon ECR's GetAuthorizationToken
// and keeps them until shortly before they expire (ECR tokens last 12
// hours). It answers only for the registry host the token is for (its
// proxy endpoint); other hosts get anonymous Credentials.
type ECRAuth struct {
	client ECRClient
	clock  Clock

	mu      sync.Mutex
	host    string // normalized proxy endpoint of the cached token
	creds   Credentials
	expires time.Time
}

// NewECRAuth returns an ECRAuth that calls client and uses clock to decide
// when a token has expired; a nil clock is the system clock.
func NewECRAuth(client ECRClient, clock Clock) *ECRAuth {
	return &ECRAuth{client: client, clock: clock}
}

// Credentials returns the ECR user ("AWS") and token for host, fetching a
// new token when none is cached or the cached one is about to expire.
func (a *ECRAuth) Credentials(ctx context.Context, host string) (Credentials, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := now(a.clock)
	if a.host == "" || !now.Before(a.expires.Add(-ecrRefreshMargin)) {
		if err := a.refresh(ctx, now); err != nil {
			return Credentials{}, err
		}
	}
	if normalizeHost(host) != a.host {
		return Credentials{}, nil
	}
	return a.creds, nil
}

// refresh fetches a new token; a.mu is held.
func (a *ECRAuth) refresh(ctx context.Context, now time.Time) error {
	out, err := a.client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return fmt.Errorf("ecr GetAuthorizationToken: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return errors.New("ecr GetAuthorizationToken: no authorization data")
	}
	d := out.AuthorizationData[0]
	if d.AuthorizationToken == nil || d.ProxyEndpoint == nil {
		return errors.New("ecr GetAuthorizationToken: token or proxy endpoint missing")
	}
	creds, err := decodeBasic(*d.AuthorizationToken)
	if err != nil {
		return fmt.Errorf("ecr GetAuthorizationToken: %w", err)
	}
	expires := now.Add(12 * time.Hour)
	if d.ExpiresAt != nil {
		expires = *d.ExpiresAt
	}
	a.host, a.creds, a.expires = normalizeHost(*d.ProxyEndpoint), creds, expires
	return nil
}
