package deploy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Health is what the cluster last reported about one instance. Only healthy
// instances take traffic.
type Health int

// The health of an instance. The zero value is Starting: an instance nobody
// has checked yet takes no traffic.
const (
	Starting  Health = iota // running, not yet through its health checks
	Healthy                 // passing its health checks, taking traffic
	Unhealthy               // failed its health checks; takes no traffic
)

// String returns "starting", "healthy" or "unhealthy".
func (h Health) String() string {
	switch h {
	case Starting:
		return "starting"
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	}
	return fmt.Sprintf("Health(%d)", int(h))
}

// Target is where a rollout is going: Instances healthy instances of Version
// and nothing else, moved towards with at most MaxSurge instances above
// Instances and at most MaxUnavailable healthy instances below it.
type Target struct {
	Version        string
	Instances      int
	MaxSurge       int // instances that may run above Instances during a rollout
	MaxUnavailable int // healthy instances that may be missing during a rollout
}

// Validate reports a target the planner cannot honour as written: negative
// counts, no version for a non-zero instance count, or neither surge nor
// unavailability (a rollout could then never replace a single instance).
// Plan still copes with such targets (see MaxTotal), so Validate belongs to
// whoever reads them from configuration.
func (t Target) Validate() error {
	switch {
	case t.Instances < 0:
		return fmt.Errorf("instances must be ≥ 0, got %d", t.Instances)
	case t.MaxSurge < 0:
		return fmt.Errorf("max_surge must be ≥ 0, got %d", t.MaxSurge)
	case t.MaxUnavailable < 0:
		return fmt.Errorf("max_unavailable must be ≥ 0, got %d", t.MaxUnavailable)
	case t.Instances > 0 && t.Version == "":
		return errors.New("a version is needed to run instances")
	case t.Instances > 0 && t.MaxSurge == 0 && t.MaxUnavailable == 0:
		return errors.New("max_surge and max_unavailable are both 0: a rollout could never replace an instance")
	}
	return nil
}

// MaxTotal is the most instances (starting, healthy and unhealthy, of any
// version) Plan lets run at once: Instances + MaxSurge. Negative counts count
// as 0, and when both MaxSurge and MaxUnavailable are 0 the surge is taken as
// 1: it is the only way to make progress that keeps every healthy instance.
func (t Target) MaxTotal() int {
	surge := max(t.MaxSurge, 0)
	if surge == 0 && t.MaxUnavailable <= 0 {
		surge = 1
	}
	return max(t.Instances, 0) + surge
}

// MinHealthy is the fewest healthy instances Plan will leave by stopping a
// healthy one: Instances - MaxUnavailable, and never below 0.
func (t Target) MinHealthy() int {
	return max(max(t.Instances, 0)-max(t.MaxUnavailable, 0), 0)
}

// Observed is one instance as the cluster reports it now. Instances already
// on their way out (draining, stopping) are not observed: they take no
// traffic and no longer count against MaxTotal.
type Observed struct {
	ID        string
	Version   string
	Health    Health
	StartedAt time.Time
}

// Step is the next thing to do to bring a build to its target. The caller
// takes the instances in Stop out of traffic and stops them, then starts
// Start instances of StartVersion, then observes the cluster again and asks
// for the next step: a step is planned from what runs, never from what the
// previous step was expected to do.
type Step struct {
	Start        int      // instances of StartVersion to start
	StartVersion string   // the target version; empty when Start is 0
	Stop         []string // IDs of instances to stop, in the order chosen
	// Wait is set when there is nothing to do until starting instances
	// become healthy or unhealthy.
	Wait   bool
	Reason string // why, for people: the event log and the dashboard
}

// Done reports whether the build is at its target: exactly Instances healthy
// instances of the target version and nothing else.
func (s Step) Done() bool { return s.Start == 0 && len(s.Stop) == 0 && !s.Wait }

// Plan returns the next step from the observed instances obs towards t.
// Plan is pure and level-triggered: it looks only at what runs now, so a
// change of target in the middle of a rollout (a rollback is one) is followed
// at once, without finishing the rollout that was under way.
//
// The rules, in the order they apply:
//
//  1. Unhealthy instances, of any version, are stopped at once. They take no
//     traffic, so stopping them costs no capacity, and they would otherwise
//     hold room a healthy replacement needs.
//  2. Starting instances of a version other than the target are stopped at
//     once: they take no traffic yet and will never be wanted.
//  3. When at least Instances target instances are healthy, the target alone
//     carries the load, so everything else is stopped: every old instance,
//     every starting target instance, and the extra healthy target ones,
//     oldest first (the newest have the freshest caches and connections).
//  4. Otherwise old healthy instances are still needed, and one is stopped
//     only while the healthy count stays at or above MinHealthy. Old versions
//     that are neither the target nor the newest old version with a healthy
//     instance go first, oldest version first: a build running three versions
//     gets back to two before anything else, and the newest old version,
//     the one closest to the target and the one a rollback mid-rollout
//     returns from, is kept longest. Within a version the oldest instance
//     goes first.
//  5. Then target instances are started up to Instances (counting the ones
//     already starting), as far as MaxTotal allows once this step's stops
//     are done. Starting before stopping healthy ones is what "scale up
//     before down" means here: old instances are stopped only as new ones
//     become healthy, unless MaxUnavailable allows otherwise. With MaxSurge
//     0 the room comes from rule 4 instead: one step stops an old instance
//     within MaxUnavailable and starts its replacement. Surplus starting
//     target instances beyond Instances are stopped, the newest first.
//  6. With nothing to start or stop, the step either waits for starting
//     instances or is done.
//
// Plan never starts an instance that would take the total above MaxTotal and
// never stops a healthy instance that would take the healthy count below
// MinHealthy. A state that already breaks either (a target that shrank, a
// crash) is not made worse and is brought back within bounds as instances
// become healthy. If Instances is 0, everything is stopped.
func Plan(t Target, obs []Observed) Step {
	want := max(t.Instances, 0)
	var (
		free                         []Observed // rules 1 and 2
		targetHealthy, targetStarted []Observed
		oldHealthy                   []Observed
	)
	for _, o := range obs {
		switch {
		case o.Health != Starting && o.Health != Healthy:
			free = append(free, o)
		case o.Version != t.Version && o.Health == Starting:
			free = append(free, o)
		case o.Version != t.Version:
			oldHealthy = append(oldHealthy, o)
		case o.Health == Starting:
			targetStarted = append(targetStarted, o)
		default:
			targetHealthy = append(targetHealthy, o)
		}
	}

	var s Step
	var reasons []string
	slices.SortFunc(free, func(a, b Observed) int { return strings.Compare(a.ID, b.ID) })
	if n := countHealth(free, Starting); n > 0 {
		reasons = append(reasons, fmt.Sprintf("stop %d starting of old versions", n))
	}
	if n := len(free) - countHealth(free, Starting); n > 0 {
		reasons = append(reasons, fmt.Sprintf("stop %d unhealthy", n))
	}
	s.Stop = appendIDs(s.Stop, free)

	if len(targetHealthy) >= want {
		// Rule 3.
		slices.SortFunc(oldHealthy, oldFirst)
		slices.SortFunc(targetHealthy, startedFirst)
		extra := targetHealthy[:len(targetHealthy)-want]
		if len(oldHealthy) > 0 {
			reasons = append(reasons, "stop "+countVersions(oldHealthy))
		}
		if len(targetStarted) > 0 {
			reasons = append(reasons, fmt.Sprintf("stop %d surplus starting of %s", len(targetStarted), t.Version))
		}
		if len(extra) > 0 {
			reasons = append(reasons, fmt.Sprintf("stop %d extra of %s, oldest first", len(extra), t.Version))
		}
		s.Stop = appendIDs(s.Stop, oldHealthy)
		s.Stop = appendIDs(s.Stop, targetStarted)
		s.Stop = appendIDs(s.Stop, extra)
		if len(s.Stop) == 0 {
			return Step{Reason: fmt.Sprintf("%s ×%d healthy", t.Version, want)}
		}
		s.Reason = strings.Join(reasons, "; ")
		return s
	}

	// Rule 5, surplus starting target instances: keep the ones that started
	// first, they are closest to healthy.
	keep := want - len(targetHealthy)
	if len(targetStarted) > keep {
		slices.SortFunc(targetStarted, startedFirst)
		surplus := targetStarted[keep:]
		slices.Reverse(surplus)
		reasons = append(reasons, fmt.Sprintf("stop %d surplus starting of %s", len(surplus), t.Version))
		s.Stop = appendIDs(s.Stop, surplus)
		targetStarted = targetStarted[:keep]
	}

	// Rule 4.
	healthy := len(targetHealthy) + len(oldHealthy)
	if n := min(healthy-t.MinHealthy(), len(oldHealthy)); n > 0 {
		slices.SortFunc(oldHealthy, oldFirst)
		reasons = append(reasons, fmt.Sprintf("stop %s (healthy %d → %d, minimum %d)",
			countVersions(oldHealthy[:n]), healthy, healthy-n, t.MinHealthy()))
		s.Stop = appendIDs(s.Stop, oldHealthy[:n])
		oldHealthy = oldHealthy[n:]
	}

	// Rule 5, starts.
	total := len(targetHealthy) + len(targetStarted) + len(oldHealthy)
	if n := min(want-len(targetHealthy)-len(targetStarted), t.MaxTotal()-total); n > 0 {
		s.Start, s.StartVersion = n, t.Version
		reasons = append(reasons, fmt.Sprintf("start %d of %s (%d of %d healthy)", n, t.Version, len(targetHealthy), want))
	}

	// Rule 6. Plan reaches here with nothing to do only while target
	// instances are starting: with none starting, either there is room to
	// start one or the healthy count is at least MaxTotal > MinHealthy, so
	// an old one can go.
	if s.Start == 0 && len(s.Stop) == 0 {
		s.Wait = true
		reasons = append(reasons, fmt.Sprintf("waiting for %d starting of %s (%d of %d healthy)",
			len(targetStarted), t.Version, len(targetHealthy), want))
	}
	s.Reason = strings.Join(reasons, "; ")
	return s
}

// compareVersions orders version names oldest first, as Last.SortedVersions
// does newest first: versions by semver, names that are not versions before
// them by name.
func compareVersions(a, b string) int {
	if a == b {
		return 0
	}
	va, errA := ParseVersion(a)
	vb, errB := ParseVersion(b)
	switch {
	case errA == nil && errB == nil:
		if c := va.Compare(vb); c != 0 {
			return c
		}
	case errA == nil:
		return 1
	case errB == nil:
		return -1
	}
	return strings.Compare(a, b)
}

// oldFirst orders old healthy instances in the order rule 4 stops them:
// oldest version first (so the newest old version comes last), and within a
// version the instance that started first.
func oldFirst(a, b Observed) int {
	if c := compareVersions(a.Version, b.Version); c != 0 {
		return c
	}
	return startedFirst(a, b)
}

// startedFirst orders instances by start time, then by ID so that equal
// times still give one order.
func startedFirst(a, b Observed) int {
	if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func appendIDs(ids []string, obs []Observed) []string {
	for _, o := range obs {
		ids = append(ids, o.ID)
	}
	return ids
}

func countHealth(obs []Observed, h Health) int {
	n := 0
	for _, o := range obs {
		if o.Health == h {
			n++
		}
	}
	return n
}

// countVersions describes instances sorted by version as "2 of 0.3.14, 1 of
// 0.3.15".
func countVersions(obs []Observed) string {
	var parts []string
	for i := 0; i < len(obs); {
		j := i
		for j < len(obs) && obs[j].Version == obs[i].Version {
			j++
		}
		parts = append(parts, fmt.Sprintf("%d of %s", j-i, obs[i].Version))
		i = j
	}
	return strings.Join(parts, ", ")
}
