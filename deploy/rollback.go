package deploy

import "time"

// Release is a version that reached a good state for a build: in sync with
// its desired state and, where a verification suite exists, verified.
type Release struct {
	Version string
	At      time.Time // when it was recorded good
}

// PreviousGood chooses the version to roll back to from current, the
// version that failed: the newest version in history that is older than
// current and not rejected. It reports false when there is none; the caller
// should then alert rather than guess.
//
// Versions compare by semver, so after a rollback from 0.3.16 to 0.3.15, a
// failure of 0.3.15 goes on to 0.3.14 even though 0.3.16 was good more
// recently; and a rejected version is never chosen, whatever its history.
// Names that are not versions (a digest, "latest") have no semver order: for
// them, and when current is not a version, "older" means recorded good before
// current last was (any good release, if current never was) and "newest"
// means recorded good last. A name that is a version is preferred to one
// that is not.
//
// history may be in any order and may repeat a version.
func PreviousGood(history []Release, rejected map[string]bool, current string) (string, bool) {
	cur, curErr := ParseVersion(current)
	var curAt time.Time // zero when current was never good
	for _, r := range history {
		if r.Version == current && r.At.After(curAt) {
			curAt = r.At
		}
	}
	older := func(r Release) bool {
		v, err := ParseVersion(r.Version)
		if err == nil && curErr == nil {
			return v.Compare(cur) < 0
		}
		return curAt.IsZero() || r.At.Before(curAt)
	}
	var best Release
	found := false
	for _, r := range history {
		if r.Version == "" || r.Version == current || rejected[r.Version] || !older(r) {
			continue
		}
		if !found || newerRelease(r, best) {
			best, found = r, true
		}
	}
	return best.Version, found
}

// newerRelease reports whether a is to be preferred to b: a version over a
// name that is not one, then the higher version, then the one recorded good
// last.
func newerRelease(a, b Release) bool {
	va, errA := ParseVersion(a.Version)
	vb, errB := ParseVersion(b.Version)
	switch {
	case errA == nil && errB != nil:
		return true
	case errA != nil && errB == nil:
		return false
	case errA == nil && errB == nil:
		if c := va.Compare(vb); c != 0 {
			return c > 0
		}
	}
	return a.At.After(b.At)
}
