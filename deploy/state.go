package deploy

import (
	"sort"
	"time"
)

// Desired is what should run for one build of a project: a version times a
// number of instances, with who or what decided it. It is a record, not a log
// line: the controller rolls the cluster towards it and every rollback is a
// change of it.
type Desired struct {
	Version   string    // e.g. "0.3.15"; empty when nothing is desired yet
	Instances int       // how many instances of Version should run
	SetAt     time.Time // when it was last changed
	SetBy     string    // "tag 0.3.15", "rollback", "user:alice", …
}

// Last is what really runs for one build, as last observed: healthy
// instances per version.
type Last struct {
	Versions   map[string]int // version → healthy instances
	ObservedAt time.Time
}

// Total returns the number of healthy instances across all versions.
func (l Last) Total() int {
	n := 0
	for _, c := range l.Versions {
		n += c
	}
	return n
}

// InSync reports whether the last state is exactly the desired state: the
// desired number of healthy instances of the desired version and nothing else.
func InSync(d Desired, l Last) bool {
	for v, n := range l.Versions {
		if n == 0 {
			continue
		}
		if v != d.Version {
			return false
		}
	}
	return l.Versions[d.Version] == d.Instances
}

// SortedVersions returns the versions present in l, newest first; names that
// do not parse as versions sort last, by name.
func (l Last) SortedVersions() []string {
	out := make([]string, 0, len(l.Versions))
	for v, n := range l.Versions {
		if n > 0 {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, errA := ParseVersion(out[i])
		b, errB := ParseVersion(out[j])
		switch {
		case errA == nil && errB == nil:
			return a.Compare(b) > 0
		case errA == nil:
			return true
		case errB == nil:
			return false
		}
		return out[i] < out[j]
	})
	return out
}
