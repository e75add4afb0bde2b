package ecs

import "fmt"

// DeploymentPercents maps a rolling update of n tasks with at most surge
// tasks above n and at most unavailable healthy tasks below it onto ECS's
// deployment configuration, maximumPercent and minimumHealthyPercent.
//
// ECS turns the percents back into task counts by rounding maximumPercent
// down (floor(n·max/100) tasks may run) and minimumHealthyPercent up
// (ceil(n·min/100) tasks must stay healthy). The percents are chosen so that
// those counts are exactly n+surge and n-unavailable: the guarantees hold
// and the whole budget is usable. For n ≤ 100 that is always possible; for
// larger n some budgets fall between two whole percents, and then the
// guarantee wins and the budget shrinks to what can be expressed. As in the
// planner (deploy.Target.MaxTotal), a surge and unavailability of 0 are taken
// as a surge of 1. If nothing of the budget can be expressed the rollout
// could never replace a task, and DeploymentPercents returns an error.
func DeploymentPercents(n, surge, unavailable int) (maxPercent, minHealthyPercent int32, err error) {
	switch {
	case n < 0 || surge < 0 || unavailable < 0:
		return 0, 0, fmt.Errorf("deployment percents: negative count (instances %d, max_surge %d, max_unavailable %d)", n, surge, unavailable)
	case n == 0:
		// Nothing runs: no task may start above 0, none must stay.
		return 100, 0, nil
	}
	if surge == 0 && unavailable == 0 {
		surge = 1
	}
	unavailable = min(unavailable, n)

	// Smallest maximum that ECS rounds down to exactly n+surge; if it
	// overshoots (n > 100), the largest that stays at or below it.
	hi := ceilDiv((n+surge)*100, n)
	if ecsMax(n, hi) != n+surge {
		hi = (n + surge) * 100 / n
	}
	// Largest minimum that ECS rounds up to exactly n-unavailable; if it
	// undershoots (n > 100), the smallest that stays at or above it.
	lo := (n - unavailable) * 100 / n
	if ecsMin(n, lo) != n-unavailable {
		lo = ceilDiv((n-unavailable)*100, n)
	}
	if got := ecsMax(n, hi); got > n+surge {
		return 0, 0, fmt.Errorf("deployment percents: maximumPercent %d lets %d of %d tasks run, over max_surge %d", hi, got, n, surge)
	}
	if got := ecsMin(n, lo); got < n-unavailable {
		return 0, 0, fmt.Errorf("deployment percents: minimumHealthyPercent %d keeps %d of %d tasks, under max_unavailable %d", lo, got, n, unavailable)
	}
	if ecsMax(n, hi) == n && ecsMin(n, lo) == n {
		return 0, 0, fmt.Errorf("deployment percents: max_surge %d and max_unavailable %d of %d tasks fall below one whole percent; ECS could never replace a task (raise one of them)", surge, unavailable, n)
	}
	return int32(hi), int32(lo), nil
}

// ecsMax is how many tasks ECS lets run for n tasks at maximumPercent p.
func ecsMax(n, p int) int { return n * p / 100 }

// ecsMin is how many tasks ECS keeps healthy for n tasks at
// minimumHealthyPercent p.
func ecsMin(n, p int) int { return ceilDiv(n*p, 100) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }
