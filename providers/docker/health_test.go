package docker

import (
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

func TestHealthState(t *testing.T) {
	const (
		starting  = providers.InstanceStarting
		healthy   = providers.InstanceHealthy
		unhealthy = providers.InstanceUnhealthy
	)
	cfg := HealthConfig{HealthyThreshold: 2, UnhealthyThreshold: 3, StartDeadline: 10 * time.Second}
	type check struct {
		at   time.Duration // since checking began
		pass bool
		want providers.InstanceState
	}
	tests := []struct {
		name   string
		cfg    HealthConfig
		checks []check
	}{
		{"healthy after two passes in a row", cfg, []check{
			{0, true, starting}, {1 * time.Second, true, healthy},
		}},
		{"a failure resets the passes", cfg, []check{
			{0, true, starting}, {1 * time.Second, false, starting}, {2 * time.Second, true, starting}, {3 * time.Second, true, healthy},
		}},
		{"failures while starting are not unhealthy before the deadline", cfg, []check{
			{0, false, starting}, {1 * time.Second, false, starting}, {2 * time.Second, false, starting}, {9 * time.Second, false, starting},
		}},
		{"never healthy by the start deadline", cfg, []check{
			{0, false, starting}, {5 * time.Second, false, starting}, {10 * time.Second, false, unhealthy},
		}},
		{"one pass is not enough by the deadline", cfg, []check{
			{9 * time.Second, false, starting}, {10 * time.Second, true, unhealthy},
		}},
		{"healthy stays healthy through fewer failures than the threshold", cfg, []check{
			{0, true, starting}, {1 * time.Second, true, healthy},
			{2 * time.Second, false, healthy}, {3 * time.Second, false, healthy}, {4 * time.Second, true, healthy},
			{5 * time.Second, false, healthy}, {6 * time.Second, false, healthy},
		}},
		{"healthy becomes unhealthy after three failures in a row", cfg, []check{
			{0, true, starting}, {1 * time.Second, true, healthy},
			{20 * time.Second, false, healthy}, {21 * time.Second, false, healthy}, {22 * time.Second, false, unhealthy},
		}},
		{"unhealthy recovers after two passes in a row", cfg, []check{
			{0, true, starting}, {1 * time.Second, true, healthy},
			{2 * time.Second, false, healthy}, {3 * time.Second, false, healthy}, {4 * time.Second, false, unhealthy},
			{5 * time.Second, true, unhealthy}, {6 * time.Second, true, healthy},
		}},
		{"late starter recovers from the deadline", cfg, []check{
			{10 * time.Second, false, unhealthy}, {11 * time.Second, true, unhealthy}, {12 * time.Second, true, healthy},
		}},
		{"zero config uses the defaults", HealthConfig{}, []check{
			{0, true, starting}, {time.Second, true, healthy},
			{2 * time.Second, false, healthy}, {3 * time.Second, false, healthy}, {4 * time.Second, false, unhealthy},
		}},
		{"default start deadline is a minute", HealthConfig{}, []check{
			{59 * time.Second, false, starting}, {60 * time.Second, false, unhealthy},
		}},
	}
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHealthState(tt.cfg, start)
			for i, c := range tt.checks {
				if got := h.observe(c.pass, start.Add(c.at)); got != c.want {
					t.Fatalf("check %d (at %v, pass %t): state %s, want %s", i, c.at, c.pass, got, c.want)
				}
			}
		})
	}
}

func TestInstanceHealth(t *testing.T) {
	c := &Cluster{health: HealthConfig{}.withDefaults()}
	def := c.health
	tests := []struct {
		timeout, interval time.Duration
		passes            int
		want              HealthConfig
	}{
		{0, 0, 0, def},
		{time.Second, 0, 0, func() HealthConfig { h := def; h.Timeout = time.Second; return h }()},
		{0, 100 * time.Millisecond, 4, func() HealthConfig { h := def; h.Interval, h.HealthyThreshold = 100*time.Millisecond, 4; return h }()},
		{-1, -1, -1, def},
	}
	for _, tt := range tests {
		if got := c.instanceHealth(tt.timeout, tt.interval, tt.passes); got != tt.want {
			t.Errorf("instanceHealth(%v, %v, %d) = %+v, want %+v", tt.timeout, tt.interval, tt.passes, got, tt.want)
		}
	}
}
