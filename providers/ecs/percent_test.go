package ecs_test

import (
	"testing"

	"github.com/mainline-cd/mainline/providers/ecs"
)

// ecsMax and ecsMin turn percents back into task counts the way ECS does:
// maximumPercent rounded down, minimumHealthyPercent rounded up.
func ecsMax(n int, p int32) int { return n * int(p) / 100 }
func ecsMin(n int, p int32) int { return (n*int(p) + 99) / 100 }

func TestDeploymentPercents(t *testing.T) {
	for _, tc := range []struct {
		n, surge, unavailable int
		wantMax, wantMin      int32
	}{
		{n: 0, surge: 1, unavailable: 0, wantMax: 100, wantMin: 0},
		{n: 1, surge: 1, unavailable: 0, wantMax: 200, wantMin: 100},
		{n: 1, surge: 0, unavailable: 1, wantMax: 100, wantMin: 0},
		{n: 1, surge: 0, unavailable: 0, wantMax: 200, wantMin: 100}, // as the planner: surge 1
		{n: 1, surge: 3, unavailable: 5, wantMax: 400, wantMin: 0},
		{n: 2, surge: 1, unavailable: 0, wantMax: 150, wantMin: 100},
		{n: 2, surge: 0, unavailable: 1, wantMax: 100, wantMin: 50},
		{n: 2, surge: 2, unavailable: 1, wantMax: 200, wantMin: 50},
		// floor(4·100/3) = 133 would let ECS run floor(3·1.33) = 3 tasks:
		// no surge at all. 134 lets it run 4.
		{n: 3, surge: 1, unavailable: 0, wantMax: 134, wantMin: 100},
		// ceil(2·100/3) = 67 would make ECS keep ceil(3·0.67) = 3 healthy:
		// no unavailability at all. 66 keeps 2.
		{n: 3, surge: 0, unavailable: 1, wantMax: 100, wantMin: 66},
		{n: 3, surge: 2, unavailable: 2, wantMax: 167, wantMin: 33},
		{n: 7, surge: 1, unavailable: 0, wantMax: 115, wantMin: 100},
		{n: 7, surge: 0, unavailable: 1, wantMax: 100, wantMin: 85},
		{n: 7, surge: 2, unavailable: 3, wantMax: 129, wantMin: 57},
		{n: 100, surge: 1, unavailable: 1, wantMax: 101, wantMin: 99},
		// 301 of 300 is 100.33%: the largest surge ECS can express within
		// 5 is 3 (101%).
		{n: 300, surge: 5, unavailable: 0, wantMax: 101, wantMin: 100},
	} {
		gotMax, gotMin, err := ecs.DeploymentPercents(tc.n, tc.surge, tc.unavailable)
		if err != nil {
			t.Errorf("DeploymentPercents(%d, %d, %d): %v", tc.n, tc.surge, tc.unavailable, err)
			continue
		}
		if gotMax != tc.wantMax || gotMin != tc.wantMin {
			t.Errorf("DeploymentPercents(%d, %d, %d) = max %d, min %d; want max %d, min %d",
				tc.n, tc.surge, tc.unavailable, gotMax, gotMin, tc.wantMax, tc.wantMin)
		}
	}
}

// TestDeploymentPercentsGuarantees checks every count the configuration
// allows: simulating ECS's rounding, never more than n+surge tasks run and
// never fewer than n-unavailable stay healthy, and where the budget can be
// expressed in whole percents at all (always for n ≤ 100) it is used to the
// full, so that a rollout can progress.
func TestDeploymentPercentsGuarantees(t *testing.T) {
	for n := 1; n <= 1000; n++ {
		for _, b := range [][2]int{{1, 0}, {0, 1}, {1, 1}, {2, 0}, {0, 2}, {3, 1}, {n / 4, n / 4}, {n, 0}, {0, n}, {0, 0}} {
			surge, unavailable := b[0], b[1]
			maxP, minP, err := ecs.DeploymentPercents(n, surge, unavailable)
			if surge == 0 && unavailable == 0 {
				surge = 1 // as the planner
			}
			if err != nil {
				// Only when no whole percent gives any room.
				if surge*100 >= n || unavailable*100 >= n {
					t.Errorf("DeploymentPercents(%d, %d, %d): %v; the budget fits a whole percent", n, surge, unavailable, err)
				}
				continue
			}
			if got := ecsMax(n, maxP); got > n+surge {
				t.Errorf("DeploymentPercents(%d, %d, %d): maximumPercent %d lets ECS run %d tasks, want ≤ %d", n, surge, unavailable, maxP, got, n+surge)
			}
			if got := ecsMin(n, minP); got < n-unavailable {
				t.Errorf("DeploymentPercents(%d, %d, %d): minimumHealthyPercent %d lets ECS keep %d healthy, want ≥ %d", n, surge, unavailable, minP, got, n-unavailable)
			}
			if n <= 100 {
				if got := ecsMax(n, maxP); got != n+surge {
					t.Errorf("DeploymentPercents(%d, %d, %d): maximumPercent %d lets ECS run %d tasks, want all of %d", n, surge, unavailable, maxP, got, n+surge)
				}
				if got := ecsMin(n, minP); got != max(n-unavailable, 0) {
					t.Errorf("DeploymentPercents(%d, %d, %d): minimumHealthyPercent %d keeps %d healthy, want just %d", n, surge, unavailable, minP, got, max(n-unavailable, 0))
				}
			}
			if minP < 0 || minP > 100 || maxP < 100 {
				t.Errorf("DeploymentPercents(%d, %d, %d) = max %d, min %d; out of ECS's ranges", n, surge, unavailable, maxP, minP)
			}
		}
	}
}

func TestDeploymentPercentsErrors(t *testing.T) {
	for _, tc := range []struct{ n, surge, unavailable int }{
		{-1, 1, 0},
		{2, -1, 0},
		{2, 0, -1},
		{300, 1, 0}, // 100.33% and 99.67% are not whole percents: no room to replace a task
		{1000, 0, 5},
	} {
		if maxP, minP, err := ecs.DeploymentPercents(tc.n, tc.surge, tc.unavailable); err == nil {
			t.Errorf("DeploymentPercents(%d, %d, %d) = %d, %d, nil; want an error", tc.n, tc.surge, tc.unavailable, maxP, minP)
		}
	}
}
