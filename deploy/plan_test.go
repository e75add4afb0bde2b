package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// inst is an observed instance that started min minutes after t0.
func inst(id, version string, h Health, min int) Observed {
	return Observed{ID: id, Version: version, Health: h, StartedAt: t0.Add(time.Duration(min) * time.Minute)}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		obs    []Observed
		want   Step // Reason is not compared
	}{
		{
			name:   "converged",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.2.0", Healthy, 1), inst("b", "0.2.0", Healthy, 2)},
			want:   Step{},
		},
		{
			name:   "first deploy starts all it may",
			target: Target{Version: "0.0.1", Instances: 2, MaxSurge: 1},
			want:   Step{Start: 2, StartVersion: "0.0.1"},
		},
		{
			name:   "surge first, nothing stopped while the new one is not healthy",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.1.0", Healthy, 1), inst("b", "0.1.0", Healthy, 2)},
			want:   Step{Start: 1, StartVersion: "0.2.0"},
		},
		{
			name:   "waits for a starting instance",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.1.0", Healthy, 1), inst("b", "0.1.0", Healthy, 2), inst("c", "0.2.0", Starting, 3)},
			want:   Step{Wait: true},
		},
		{
			name:   "a new healthy instance frees the oldest old one and room for the next",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs:    []Observed{inst("b", "0.1.0", Healthy, 2), inst("a", "0.1.0", Healthy, 1), inst("c", "0.2.0", Healthy, 3)},
			want:   Step{Stop: []string{"a"}, Start: 1, StartVersion: "0.2.0"},
		},
		{
			name:   "last old instance goes once the target is fully healthy",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs:    []Observed{inst("b", "0.1.0", Healthy, 2), inst("c", "0.2.0", Healthy, 3), inst("d", "0.2.0", Healthy, 4)},
			want:   Step{Stop: []string{"b"}},
		},
		{
			name:   "max surge 0 stops one old within max unavailable, then starts",
			target: Target{Version: "0.2.0", Instances: 2, MaxUnavailable: 1},
			obs:    []Observed{inst("a", "0.1.0", Healthy, 1), inst("b", "0.1.0", Healthy, 2)},
			want:   Step{Stop: []string{"a"}, Start: 1, StartVersion: "0.2.0"},
		},
		{
			name:   "max surge and max unavailable both 0 surge by one",
			target: Target{Version: "0.2.0", Instances: 2},
			obs:    []Observed{inst("a", "0.1.0", Healthy, 1), inst("b", "0.1.0", Healthy, 2)},
			want:   Step{Start: 1, StartVersion: "0.2.0"},
		},
		{
			name:   "unhealthy instances stopped at once and replaced",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.2.0", Healthy, 1), inst("b", "0.2.0", Unhealthy, 2), inst("c", "0.1.0", Unhealthy, 0)},
			want:   Step{Stop: []string{"b", "c"}, Start: 1, StartVersion: "0.2.0"},
		},
		{
			name:   "a health the planner does not know counts as unhealthy",
			target: Target{Version: "0.2.0", Instances: 1, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.2.0", Healthy, 1), inst("b", "0.2.0", Health(7), 2)},
			want:   Step{Stop: []string{"b"}},
		},
		{
			name:   "versions neither desired nor newest go first, whatever their age",
			target: Target{Version: "0.3.0", Instances: 3, MaxUnavailable: 1},
			obs: []Observed{
				inst("new1", "0.2.0", Healthy, 1), inst("new2", "0.2.0", Healthy, 2),
				inst("old", "0.1.0", Healthy, 9),
			},
			want: Step{Stop: []string{"old"}, Start: 1, StartVersion: "0.3.0"},
		},
		{
			name:   "oldest version first among several old ones",
			target: Target{Version: "0.4.0", Instances: 3, MaxUnavailable: 2},
			obs: []Observed{
				inst("c", "0.3.0", Healthy, 1), inst("b", "0.2.0", Healthy, 2), inst("a", "0.1.0", Healthy, 3),
			},
			want: Step{Stop: []string{"a", "b"}, Start: 2, StartVersion: "0.4.0"},
		},
		{
			name:   "rollback mid-rollout stops the new version's starting instances and starts the old",
			target: Target{Version: "0.1.0", Instances: 2, MaxSurge: 1},
			obs: []Observed{
				inst("a", "0.1.0", Healthy, 1), inst("c", "0.2.0", Healthy, 3), inst("d", "0.2.0", Starting, 4),
			},
			want: Step{Stop: []string{"d"}, Start: 1, StartVersion: "0.1.0"},
		},
		{
			name:   "extras stopped oldest first",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs: []Observed{
				inst("d", "0.2.0", Healthy, 4), inst("b", "0.2.0", Healthy, 2),
				inst("a", "0.2.0", Healthy, 1), inst("c", "0.2.0", Healthy, 3),
			},
			want: Step{Stop: []string{"a", "b"}},
		},
		{
			name:   "equal start times break ties by ID",
			target: Target{Version: "0.2.0", Instances: 1, MaxSurge: 1},
			obs:    []Observed{inst("y", "0.2.0", Healthy, 1), inst("x", "0.2.0", Healthy, 1)},
			want:   Step{Stop: []string{"x"}},
		},
		{
			name:   "scale up within surge",
			target: Target{Version: "0.2.0", Instances: 4, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.2.0", Healthy, 1), inst("b", "0.2.0", Healthy, 2)},
			want:   Step{Start: 2, StartVersion: "0.2.0"},
		},
		{
			name:   "surplus starting target instances stopped, latest first",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs: []Observed{
				inst("a", "0.2.0", Healthy, 1), inst("b", "0.2.0", Starting, 2),
				inst("c", "0.2.0", Starting, 3), inst("d", "0.2.0", Starting, 4),
			},
			want: Step{Stop: []string{"d", "c"}, Wait: false},
		},
		{
			name:   "starting target instances are surplus once enough are healthy",
			target: Target{Version: "0.2.0", Instances: 1, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.2.0", Healthy, 1), inst("b", "0.2.0", Starting, 2)},
			want:   Step{Stop: []string{"b"}},
		},
		{
			name:   "instances 0 stops everything",
			target: Target{Version: "0.2.0", Instances: 0, MaxSurge: 1},
			obs: []Observed{
				inst("a", "0.2.0", Healthy, 1), inst("b", "0.2.0", Starting, 2),
				inst("c", "0.1.0", Healthy, 0), inst("d", "0.1.0", Unhealthy, 0),
			},
			want: Step{Stop: []string{"d", "c", "b", "a"}},
		},
		{
			name:   "too few healthy: none stopped, start up to the total allowed",
			target: Target{Version: "0.2.0", Instances: 3, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.1.0", Healthy, 1)},
			want:   Step{Start: 3, StartVersion: "0.2.0"},
		},
		{
			name:   "over-provisioned old version shrinks to the minimum before starting",
			target: Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.1.0", Healthy, 1), inst("b", "0.1.0", Healthy, 2), inst("c", "0.1.0", Healthy, 3)},
			want:   Step{Stop: []string{"a"}, Start: 1, StartVersion: "0.2.0"},
		},
		{
			name:   "starting old instances take no traffic and are stopped at once",
			target: Target{Version: "0.2.0", Instances: 1, MaxSurge: 1},
			obs:    []Observed{inst("a", "0.1.0", Healthy, 1), inst("b", "0.1.0", Starting, 2)},
			want:   Step{Stop: []string{"b"}, Start: 1, StartVersion: "0.2.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(tt.target, tt.obs)
			if got.Start != tt.want.Start || got.StartVersion != tt.want.StartVersion ||
				!slices.Equal(got.Stop, tt.want.Stop) || got.Wait != tt.want.Wait {
				t.Errorf("Plan() = %s, want %s", fmtStep(got), fmtStep(tt.want))
			}
			if got.Done() != tt.want.Done() {
				t.Errorf("Plan().Done() = %v, want %v", got.Done(), tt.want.Done())
			}
			if got.Reason == "" {
				t.Errorf("Plan() gave no reason for %s", fmtStep(got))
			}
		})
	}
}

func fmtStep(s Step) string {
	return fmt.Sprintf("{start %d of %q, stop %v, wait %v}", s.Start, s.StartVersion, s.Stop, s.Wait)
}

func TestPlanReason(t *testing.T) {
	got := Plan(Target{Version: "0.2.0", Instances: 2, MaxSurge: 1},
		[]Observed{inst("b", "0.1.0", Healthy, 2), inst("a", "0.1.0", Healthy, 1), inst("c", "0.2.0", Healthy, 3)})
	for _, want := range []string{"stop 1 of 0.1.0", "healthy 3 → 2, minimum 2", "start 1 of 0.2.0"} {
		if !strings.Contains(got.Reason, want) {
			t.Errorf("Reason = %q, want it to contain %q", got.Reason, want)
		}
	}
}

func TestPlanDoesNotChangeInput(t *testing.T) {
	obs := []Observed{inst("b", "0.1.0", Healthy, 2), inst("a", "0.1.0", Healthy, 1), inst("c", "0.2.0", Starting, 3)}
	before := slices.Clone(obs)
	Plan(Target{Version: "0.2.0", Instances: 2, MaxUnavailable: 1}, obs)
	if !slices.Equal(obs, before) {
		t.Errorf("Plan reordered its input: got %v, want %v", obs, before)
	}
}

func TestTargetLimits(t *testing.T) {
	tests := []struct {
		target               Target
		maxTotal, minHealthy int
	}{
		{Target{Instances: 2, MaxSurge: 1}, 3, 2},
		{Target{Instances: 2, MaxUnavailable: 1}, 2, 1},
		{Target{Instances: 2}, 3, 2},
		{Target{Instances: 2, MaxUnavailable: 5}, 2, 0},
		{Target{Instances: -1, MaxSurge: -2, MaxUnavailable: -3}, 1, 0},
		{Target{Instances: 4, MaxSurge: 2, MaxUnavailable: 1}, 6, 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.target), func(t *testing.T) {
			if got := tt.target.MaxTotal(); got != tt.maxTotal {
				t.Errorf("MaxTotal() = %d, want %d", got, tt.maxTotal)
			}
			if got := tt.target.MinHealthy(); got != tt.minHealthy {
				t.Errorf("MinHealthy() = %d, want %d", got, tt.minHealthy)
			}
		})
	}
}

func TestTargetValidate(t *testing.T) {
	tests := []struct {
		target  Target
		wantErr string // "" for valid
	}{
		{Target{Version: "0.1.0", Instances: 2, MaxSurge: 1}, ""},
		{Target{Version: "0.1.0", Instances: 2, MaxUnavailable: 1}, ""},
		{Target{}, ""},
		{Target{Version: "0.1.0", Instances: -1, MaxSurge: 1}, "instances must be ≥ 0, got -1"},
		{Target{Version: "0.1.0", Instances: 1, MaxSurge: -1}, "max_surge must be ≥ 0, got -1"},
		{Target{Version: "0.1.0", Instances: 1, MaxSurge: 1, MaxUnavailable: -2}, "max_unavailable must be ≥ 0, got -2"},
		{Target{Instances: 1, MaxSurge: 1}, "a version is needed"},
		{Target{Version: "0.1.0", Instances: 1}, "both 0"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.target), func(t *testing.T) {
			err := tt.target.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHealthString(t *testing.T) {
	for h, want := range map[Health]string{Starting: "starting", Healthy: "healthy", Unhealthy: "unhealthy", Health(9): "Health(9)"} {
		if got := h.String(); got != want {
			t.Errorf("Health(%d).String() = %q, want %q", int(h), got, want)
		}
	}
}

// BenchmarkPlan plans one step for 100 instances across four versions in
// the middle of a rollout.
func BenchmarkPlan(b *testing.B) {
	versions := []string{"0.3.13", "0.3.14", "0.3.15", "0.3.16"}
	obs := make([]Observed, 0, 100)
	for i := range 100 {
		h := Healthy
		switch {
		case i%17 == 0:
			h = Unhealthy
		case i%5 == 0:
			h = Starting
		}
		obs = append(obs, inst(fmt.Sprintf("i%03d", i), versions[i%len(versions)], h, 100-i))
	}
	target := Target{Version: "0.3.16", Instances: 100, MaxSurge: 25, MaxUnavailable: 10}
	for b.Loop() {
		Plan(target, obs)
	}
}
