package docker_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/providers/docker/ecrtest"
)

// manualClock is a Clock the test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestECRAuth(t *testing.T) {
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	const host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
	fake := ecrtest.NewServer(t, ecrtest.Token{
		Username:      "AWS",
		Password:      "eyJwYXlsb2FkIjoi-token",
		ProxyEndpoint: "https://" + host,
		ExpiresAt:     start.Add(12 * time.Hour),
	})
	clock := &manualClock{t: start}
	a := docker.NewECRAuth(fake.Client(), clock)
	want := docker.Credentials{Username: "AWS", Password: "eyJwYXlsb2FkIjoi-token"}

	steps := []struct {
		name      string
		advance   time.Duration
		host      string
		want      docker.Credentials
		wantCalls int
	}{
		{name: "first use fetches a token", host: host, want: want, wantCalls: 1},
		{name: "second use is cached", advance: time.Hour, host: host, want: want, wantCalls: 1},
		{name: "another registry gets nothing", host: "ghcr.io", want: docker.Credentials{}, wantCalls: 1},
		{name: "near expiry refreshes", advance: 11 * time.Hour, host: host, want: want, wantCalls: 2},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		got, err := a.Credentials(t.Context(), s.host)
		if err != nil || got != s.want {
			t.Errorf("%s: Credentials(%s) = %v, %v; want %v", s.name, s.host, got, err, s.want)
		}
		if n := fake.Calls(); n != s.wantCalls {
			t.Errorf("%s: GetAuthorizationToken calls = %d, want %d", s.name, n, s.wantCalls)
		}
	}
}

func TestECRAuthError(t *testing.T) {
	fake := ecrtest.NewServer(t, ecrtest.Token{Username: "AWS", Password: "x", ProxyEndpoint: "https://r.example.com"})
	fake.Close() // the API is down
	_, err := docker.NewECRAuth(fake.Client(), nil).Credentials(t.Context(), "r.example.com")
	if err == nil || !strings.Contains(err.Error(), "GetAuthorizationToken") {
		t.Errorf("Credentials with ECR down = %v, want an error naming GetAuthorizationToken", err)
	}
}
