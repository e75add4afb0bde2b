package deploy

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a release version of the form MAJOR.MINOR.PATCH, optionally
// written with a leading "v". The prefix is kept so that a repository that
// tags "v0.3.15" gets "v0.3.16" next, and one that tags "0.3.15" gets
// "0.3.16".
//
// Pre-release and build-metadata suffixes are not version tags for Mainline:
// ParseVersion rejects them, so a "1.0.0-rc1" tag never becomes a deploy.
type Version struct {
	Prefix              string // "" or "v"
	Major, Minor, Patch uint64
}

// ParseVersion parses "0.3.15" or "v0.3.15". Leading zeros ("01.2.3") and
// anything after the patch number are rejected, as in semver.
func ParseVersion(s string) (Version, error) {
	var v Version
	rest := s
	if strings.HasPrefix(rest, "v") {
		v.Prefix, rest = "v", rest[1:]
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') || strings.TrimLeft(p, "0123456789") != "" {
			return Version{}, fmt.Errorf("version %q: %q is not a number without leading zeros", s, p)
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %w", s, err)
		}
		*nums[i] = n
	}
	return v, nil
}

// MustParseVersion is ParseVersion for constants in tests and tables; it
// panics on a malformed version.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String returns the version with its prefix, e.g. "v0.3.15".
func (v Version) String() string {
	return fmt.Sprintf("%s%d.%d.%d", v.Prefix, v.Major, v.Minor, v.Patch)
}

// IsZero reports whether v is the zero Version (no version).
func (v Version) IsZero() bool { return v == Version{} }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
// The prefix does not take part: "v1.2.3" and "1.2.3" are the same release.
func (v Version) Compare(w Version) int {
	for _, d := range [3][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		switch {
		case d[0] < d[1]:
			return -1
		case d[0] > d[1]:
			return 1
		}
	}
	return 0
}

// NextPatch returns the next patch release, keeping the prefix.
func (v Version) NextPatch() Version {
	return Version{Prefix: v.Prefix, Major: v.Major, Minor: v.Minor, Patch: v.Patch + 1}
}

// NextMinor returns the next minor release, keeping the prefix.
func (v Version) NextMinor() Version {
	return Version{Prefix: v.Prefix, Major: v.Major, Minor: v.Minor + 1}
}

// NextMajor returns the next major release, keeping the prefix.
func (v Version) NextMajor() Version {
	return Version{Prefix: v.Prefix, Major: v.Major + 1}
}

// FirstVersion is the version given to a repository's first tag: 0.0.1, with
// the prefix the caller asks for.
func FirstVersion(prefix string) Version { return Version{Prefix: prefix, Patch: 1} }

// Highest returns the newest version among names that parse as versions, and
// false when none does. Names that are not versions (e.g. "release-2") are
// skipped, not errors: repositories carry all kinds of tags.
func Highest(names []string) (Version, bool) {
	var best Version
	found := false
	for _, n := range names {
		v, err := ParseVersion(n)
		if err != nil {
			continue
		}
		if !found || v.Compare(best) > 0 {
			best, found = v, true
		}
	}
	return best, found
}
