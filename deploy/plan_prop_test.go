package deploy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// cluster simulates the instances of one build under Plan. A started
// instance is Starting until its settle tick, then Healthy, or Unhealthy if
// its version is bad. Stopped instances disappear at once: an instance on
// its way out is not observed.
type cluster struct {
	rng      *rand.Rand
	now      int // ticks since the start
	nextID   int
	insts    []simInstance
	bad      map[string]bool // versions whose instances never become healthy
	maxDelay int             // most ticks an instance stays Starting
	crash    bool            // whether healthy instances sometimes fail
}

type simInstance struct {
	Observed
	settleAt int
}

func (c *cluster) add(version string, h Health) {
	c.nextID++
	c.insts = append(c.insts, simInstance{
		Observed: Observed{
			ID:        fmt.Sprintf("i%d", c.nextID),
			Version:   version,
			Health:    h,
			StartedAt: t0.Add(time.Duration(c.now)*time.Second + time.Duration(c.nextID)),
		},
		settleAt: c.now + 1 + c.rng.IntN(c.maxDelay),
	})
}

// observe returns the instances in a random order, as a cluster API might.
func (c *cluster) observe() []Observed {
	obs := make([]Observed, len(c.insts))
	for i, in := range c.insts {
		obs[i] = in.Observed
	}
	c.rng.Shuffle(len(obs), func(i, j int) { obs[i], obs[j] = obs[j], obs[i] })
	return obs
}

// apply carries out s, reporting a step the cluster cannot carry out.
func (c *cluster) apply(tgt Target, s Step) error {
	if s.Start < 0 {
		return fmt.Errorf("start %d", s.Start)
	}
	if s.Start > 0 && s.StartVersion != tgt.Version {
		return fmt.Errorf("starts %q, target is %q", s.StartVersion, tgt.Version)
	}
	stop := make(map[string]bool, len(s.Stop))
	for _, id := range s.Stop {
		if stop[id] {
			return fmt.Errorf("stops %s twice", id)
		}
		stop[id] = true
	}
	n := len(c.insts)
	c.insts = slices.DeleteFunc(c.insts, func(in simInstance) bool { return stop[in.ID] })
	if n-len(c.insts) != len(stop) {
		return fmt.Errorf("stops instances that do not exist: %v", s.Stop)
	}
	for range s.Start {
		c.add(s.StartVersion, Starting)
	}
	return nil
}

// tick lets time pass: starting instances settle, and when crash is set a
// healthy instance now and then fails its checks.
func (c *cluster) tick() {
	c.now++
	for i := range c.insts {
		in := &c.insts[i]
		switch {
		case in.Health == Starting && c.now >= in.settleAt && c.bad[in.Version]:
			in.Health = Unhealthy
		case in.Health == Starting && c.now >= in.settleAt:
			in.Health = Healthy
		case in.Health == Healthy && c.crash && c.rng.IntN(50) == 0:
			in.Health = Unhealthy
		}
	}
}

// converged reports whether obs is exactly tgt: Instances healthy instances
// of its version and nothing else.
func converged(tgt Target, obs []Observed) bool {
	if len(obs) != max(tgt.Instances, 0) {
		return false
	}
	for _, o := range obs {
		if o.Version != tgt.Version || o.Health != Healthy {
			return false
		}
	}
	return true
}

// checkStep checks the properties of one step s planned for tgt from before;
// after is what runs once s is carried out.
func checkStep(tgt Target, before []Observed, s Step, after []Observed) error {
	healthy := func(obs []Observed) int { return countHealth(obs, Healthy) }
	stopped := make(map[string]bool)
	for _, id := range s.Stop {
		stopped[id] = true
	}
	stoppedHealthy := 0
	for _, o := range before {
		if stopped[o.ID] && o.Health == Healthy {
			stoppedHealthy++
		}
	}

	// Never stop a healthy instance below the minimum.
	if stoppedHealthy > 0 && healthy(after) < tgt.MinHealthy() {
		return fmt.Errorf("stopped %d healthy, leaving %d healthy, minimum %d", stoppedHealthy, healthy(after), tgt.MinHealthy())
	}
	if healthy(before) >= tgt.MinHealthy() && healthy(after) < tgt.MinHealthy() {
		return fmt.Errorf("healthy went from %d to %d, minimum %d", healthy(before), healthy(after), tgt.MinHealthy())
	}
	// Never start above the total allowed, never make an excess worse.
	if s.Start > 0 && len(after) > tgt.MaxTotal() {
		return fmt.Errorf("started %d, total %d, maximum %d", s.Start, len(after), tgt.MaxTotal())
	}
	if len(before) <= tgt.MaxTotal() && len(after) > tgt.MaxTotal() {
		return fmt.Errorf("total went from %d to %d, maximum %d", len(before), len(after), tgt.MaxTotal())
	}
	// Done exactly when converged; waiting only with nothing to do and a
	// target instance starting.
	if s.Done() != converged(tgt, before) {
		return fmt.Errorf("Done() = %v, converged = %v", s.Done(), converged(tgt, before))
	}
	if s.Wait {
		if s.Start != 0 || len(s.Stop) != 0 {
			return fmt.Errorf("waits and acts")
		}
		if !slices.ContainsFunc(before, func(o Observed) bool { return o.Version == tgt.Version && o.Health == Starting }) {
			return fmt.Errorf("waits with no target instance starting")
		}
	}
	// Extra healthy target instances go oldest first.
	for _, o := range before {
		if !stopped[o.ID] || o.Version != tgt.Version || o.Health != Healthy {
			continue
		}
		for _, k := range after {
			if k.Version == tgt.Version && k.Health == Healthy && startedFirst(k, o) < 0 {
				return fmt.Errorf("stopped healthy %s of the target, kept %s that started before it", o.ID, k.ID)
			}
		}
	}
	// Old versions that are neither the target nor the newest healthy one
	// go before the newest healthy old version.
	old := Last{Versions: map[string]int{}}
	for _, o := range before {
		if o.Version != tgt.Version && o.Health == Healthy {
			old.Versions[o.Version]++
		}
	}
	if vs := old.SortedVersions(); len(vs) > 1 {
		newest := vs[0]
		stoppedNewest := slices.ContainsFunc(before, func(o Observed) bool {
			return stopped[o.ID] && o.Version == newest && o.Health == Healthy
		})
		leftOlder := slices.ContainsFunc(after, func(o Observed) bool {
			return o.Version != tgt.Version && o.Version != newest && o.Health == Healthy
		})
		if stoppedNewest && leftOlder {
			return fmt.Errorf("stopped a healthy instance of the newest old version %s while older ones stay healthy", newest)
		}
	}
	return nil
}

// step plans one step for tgt, checks it and carries it out, then lets a
// tick pass. It reports whether the step was Done.
func (c *cluster) step(t *testing.T, seed uint64, tgt Target) bool {
	t.Helper()
	before := c.observe()
	s := Plan(tgt, before)
	if err := c.apply(tgt, s); err != nil {
		t.Fatalf("seed %d: target %+v, state %v: step %s: %v", seed, tgt, before, fmtStep(s), err)
	}
	if err := checkStep(tgt, before, s, c.observe()); err != nil {
		t.Fatalf("seed %d: target %+v, state %v: step %s (%s): %v", seed, tgt, before, fmtStep(s), s.Reason, err)
	}
	c.tick()
	return s.Done()
}

// converge steps towards tgt, a good version, until done, failing the test
// past a bound: each round of at most maxDelay+1 ticks replaces at least one
// instance, so rounds are bounded by the instances to start plus those to
// stop.
func (c *cluster) converge(t *testing.T, seed uint64, tgt Target) {
	t.Helper()
	c.crash = false
	bound := (max(tgt.Instances, 0) + len(c.insts) + 2) * (c.maxDelay + 2)
	for range bound {
		if c.step(t, seed, tgt) {
			if obs := c.observe(); !converged(tgt, obs) {
				t.Fatalf("seed %d: target %+v: done at %v", seed, tgt, obs)
			}
			return
		}
	}
	t.Fatalf("seed %d: target %+v: not converged within %d steps: %v", seed, tgt, bound, c.observe())
}

var simVersions = []string{"0.1.0", "0.1.1", "0.2.0", "v0.3.0", "1.0.0", "latest"}

func randomTarget(rng *rand.Rand, version string) Target {
	return Target{Version: version, Instances: rng.IntN(7), MaxSurge: rng.IntN(4), MaxUnavailable: rng.IntN(4)}
}

// TestPlanProperties runs Plan from thousands of random states through
// random changes of target, some to versions that never become healthy and
// with healthy instances failing now and then, checking every step; then
// sets a good target and checks that the build converges to it.
func TestPlanProperties(t *testing.T) {
	const runs = 3000
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 0x6d61696e6c696e65))
		c := &cluster{rng: rng, bad: map[string]bool{}, maxDelay: 1 + rng.IntN(5), crash: true}
		for _, v := range simVersions {
			if rng.IntN(3) == 0 {
				c.bad[v] = true
			}
		}
		for range rng.IntN(13) {
			c.add(simVersions[rng.IntN(len(simVersions))], Health(rng.IntN(3)))
		}
		for range rng.IntN(4) {
			tgt := randomTarget(rng, simVersions[rng.IntN(len(simVersions))])
			for range rng.IntN(30) {
				c.step(t, seed, tgt)
			}
		}
		good := "2.0.0"
		for _, v := range simVersions {
			if !c.bad[v] && rng.IntN(2) == 0 {
				good = v
			}
		}
		c.converge(t, seed, randomTarget(rng, good))
	}
}

// TestPlanRollbackMidRollout starts from a build converged on 0.1.0, rolls
// towards 0.2.0 (sometimes a bad version) for a random while, then changes
// the target back to 0.1.0 or on to 0.3.0: the build must go straight to the
// new target, stopping 0.2.0's starting instances in the first step and never
// adding a 0.2.0 instance again.
func TestPlanRollbackMidRollout(t *testing.T) {
	const runs = 2000
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 0x726f6c6c6261636b))
		c := &cluster{rng: rng, bad: map[string]bool{"0.2.0": rng.IntN(2) == 0}, maxDelay: 1 + rng.IntN(5)}
		from := Target{Version: "0.1.0", Instances: 1 + rng.IntN(6), MaxSurge: rng.IntN(3), MaxUnavailable: rng.IntN(3)}
		for range from.Instances {
			c.add(from.Version, Healthy)
		}
		rollout := from
		rollout.Version = "0.2.0"
		for range rng.IntN(4 * c.maxDelay) {
			c.step(t, seed, rollout)
		}

		back := from
		if rng.IntN(3) == 0 {
			back = randomTarget(rng, "0.3.0")
		}
		countRollout := func() int {
			n := 0
			for _, o := range c.observe() {
				if o.Version == rollout.Version {
					n++
				}
			}
			return n
		}
		c.step(t, seed, back)
		if slices.ContainsFunc(c.observe(), func(o Observed) bool { return o.Version == rollout.Version && o.Health == Starting }) {
			t.Fatalf("seed %d: after the change to %+v, %s instances still starting: %v", seed, back, rollout.Version, c.observe())
		}
		bound := (back.Instances + len(c.insts) + 2) * (c.maxDelay + 2)
		n := countRollout()
		for i := 0; ; i++ {
			if i == bound {
				t.Fatalf("seed %d: target %+v: not converged within %d steps: %v", seed, back, bound, c.observe())
			}
			if c.step(t, seed, back) {
				break
			}
			if m := countRollout(); m > n {
				t.Fatalf("seed %d: %s instances went from %d to %d after the change to %+v", seed, rollout.Version, n, m, back)
			} else {
				n = m
			}
		}
		if obs := c.observe(); !converged(back, obs) {
			t.Fatalf("seed %d: target %+v: done at %v", seed, back, obs)
		}
	}
}
