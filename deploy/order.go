package deploy

import (
	"fmt"
	"slices"
	"strings"
)

// CycleError is returned by BuildOrder when builds depend on each other in a
// circle, so that none of them could ever roll first.
type CycleError struct {
	// Cycle names the builds in the circle, each depending on the next, with
	// the first repeated at the end: [api www api]. It starts at the
	// alphabetically smallest build so the same cycle is always named the
	// same way.
	Cycle []string
}

func (e *CycleError) Error() string {
	return "depends_on cycle: " + strings.Join(e.Cycle, " → ")
}

// BuildOrder groups builds into waves by depends_on: deps maps every build to
// the builds it depends on (nil or empty for none). Each wave holds the
// builds whose dependencies are all in earlier waves, sorted by name, so the
// order is the same on every run. A dependency that is not a key of deps is
// an error, as is a cycle (a *CycleError).
//
// It is Kahn's algorithm: the first wave is every build with no
// dependencies, and each later wave is what becomes free once the waves
// before it are done.
func BuildOrder(deps map[string][]string) ([][]string, error) {
	names := make([]string, 0, len(deps))
	for b := range deps {
		names = append(names, b)
	}
	slices.Sort(names)

	pending := make(map[string]int, len(deps))         // build → dependencies not yet in a wave
	dependents := make(map[string][]string, len(deps)) // build → builds that depend on it
	for _, b := range names {
		seen := make(map[string]bool, len(deps[b]))
		for _, d := range deps[b] {
			if _, ok := deps[d]; !ok {
				return nil, fmt.Errorf("build %s depends on %s, which is not a build", b, d)
			}
			if seen[d] {
				continue
			}
			seen[d] = true
			pending[b]++
			dependents[d] = append(dependents[d], b)
		}
	}

	var waves [][]string
	var wave []string
	for _, b := range names {
		if pending[b] == 0 {
			wave = append(wave, b)
		}
	}
	placed := 0
	for len(wave) > 0 {
		waves = append(waves, wave)
		placed += len(wave)
		var next []string
		for _, b := range wave {
			for _, d := range dependents[b] {
				pending[d]--
				if pending[d] == 0 {
					next = append(next, d)
				}
			}
		}
		slices.Sort(next)
		wave = next
	}
	if placed < len(names) {
		return nil, &CycleError{Cycle: findCycle(names, deps, pending)}
	}
	return waves, nil
}

// findCycle returns a cycle among the builds BuildOrder could not place
// (pending > 0). Every such build has a dependency that is also unplaced, so
// following the smallest one from any of them must come back to a build
// already seen.
func findCycle(names []string, deps map[string][]string, pending map[string]int) []string {
	unplaced := func(b string) bool { return pending[b] > 0 }
	var start string
	for _, b := range names {
		if unplaced(b) {
			start = b
			break
		}
	}
	at := make(map[string]int)
	var path []string
	for b := start; ; {
		if i, ok := at[b]; ok {
			path = path[i:]
			break
		}
		at[b] = len(path)
		path = append(path, b)
		var next string
		for _, d := range deps[b] {
			if unplaced(d) && (next == "" || d < next) {
				next = d
			}
		}
		b = next
	}
	// Rotate to start at the smallest name, then close the circle.
	i := slices.Index(path, slices.Min(path))
	cycle := append(slices.Clone(path[i:]), path[:i]...)
	return append(cycle, cycle[0])
}

// Ready reports whether build may roll: whether everything it depends on,
// directly or through other builds, is at its desired state as inSync says.
// When it may not, waitingFor names the build to wait for, the deepest
// dependency first, since that is the one holding up the others. A build
// missing from deps has no dependencies, and a cycle does not loop forever.
func Ready(build string, deps map[string][]string, inSync func(build string) bool) (waitingFor string, ok bool) {
	seen := map[string]bool{build: true}
	var visit func(b string) (string, bool)
	visit = func(b string) (string, bool) {
		ds := slices.Clone(deps[b])
		slices.Sort(ds)
		for _, d := range ds {
			if seen[d] {
				continue
			}
			seen[d] = true
			if w, ok := visit(d); !ok {
				return w, false
			}
			if !inSync(d) {
				return d, false
			}
		}
		return "", true
	}
	return visit(build)
}
