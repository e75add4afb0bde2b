package dependents

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mainline-cd/mainline/deploy/config"
)

// ImageIndex answers what an image registry holds.
type ImageIndex interface {
	// Tags lists the tags of repository repo ("golang",
	// "ghcr.io/acme/base").
	Tags(ctx context.Context, repo string) ([]string, error)
	// Digest returns the manifest digest ref ("golang:1.22") points at.
	Digest(ctx context.Context, ref string) (string, error)
}

// RemoteImages is an ImageIndex over the registry API, with
// go-containerregistry. Registries on localhost and 127.0.0.1 are spoken
// to over plain HTTP, as go-containerregistry does.
type RemoteImages struct {
	// Options are passed to every remote call; nil uses the Docker
	// credential helpers and config (authn.DefaultKeychain).
	Options []remote.Option
}

var _ ImageIndex = RemoteImages{}

func (r RemoteImages) options(ctx context.Context) []remote.Option {
	opts := slices.Clone(r.Options)
	if opts == nil {
		opts = []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	}
	return append(opts, remote.WithContext(ctx))
}

// Tags lists the tags of repo.
func (r RemoteImages) Tags(ctx context.Context, repo string) ([]string, error) {
	rp, err := name.NewRepository(repo)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", repo, err)
	}
	tags, err := remote.List(rp, r.options(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return tags, nil
}

// Digest returns the digest of the manifest (or index) ref names.
func (r RemoteImages) Digest(ctx context.Context, ref string) (string, error) {
	rf, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	desc, err := remote.Head(rf, r.options(ctx)...)
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

// imageRef is a FROM line's image, split.
type imageRef struct {
	repo, tag, digest string
}

func (r imageRef) String() string {
	s := r.repo
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

func splitImage(ref string) imageRef {
	var r imageRef
	ref, r.digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref, r.tag = ref[:i], ref[i+1:]
	}
	r.repo = ref
	return r
}

// fromRef is one image reference on a FROM line: its byte range in the
// file.
type fromRef struct {
	start, end int
	ref        imageRef
}

// parseFroms finds the image of every FROM line that names a real image:
// not scratch, not an earlier build stage, not built from ARGs.
func parseFroms(data []byte) []fromRef {
	var out []fromRef
	stages := map[string]bool{}
	off := 0
	for _, line := range strings.SplitAfter(string(data), "\n") {
		lineStart := off
		off += len(line)
		trimmed := strings.TrimLeft(line, " \t")
		indent := len(line) - len(trimmed)
		if len(trimmed) < 5 || !strings.EqualFold(trimmed[:4], "FROM") || (trimmed[4] != ' ' && trimmed[4] != '\t') {
			continue
		}
		// Walk the words after FROM, keeping their offsets.
		pos := lineStart + indent + 4
		rest := trimmed[4:]
		var words []struct {
			text  string
			start int
		}
		for {
			n := len(rest)
			rest = strings.TrimLeft(rest, " \t")
			pos += n - len(rest)
			if rest == "" || rest[0] == '\n' || rest[0] == '\r' || rest[0] == '#' {
				break
			}
			end := strings.IndexAny(rest, " \t\r\n")
			if end < 0 {
				end = len(rest)
			}
			words = append(words, struct {
				text  string
				start int
			}{rest[:end], pos})
			pos += end
			rest = rest[end:]
		}
		i := 0
		for i < len(words) && strings.HasPrefix(words[i].text, "--") {
			i++
		}
		if i >= len(words) {
			continue
		}
		img := words[i]
		lower := strings.ToLower(img.text)
		if lower != "scratch" && !stages[lower] && !strings.Contains(img.text, "$") {
			out = append(out, fromRef{start: img.start, end: img.start + len(img.text), ref: splitImage(img.text)})
		}
		if i+2 < len(words) && strings.EqualFold(words[i+1].text, "AS") {
			stages[strings.ToLower(words[i+2].text)] = true
		}
	}
	return out
}

// tagPattern is a version-like tag: 1 to 3 numbers, an optional "v", an
// optional suffix ("-alpine", "-bookworm", "-alpine3.20").
var tagPattern = regexp.MustCompile(`^(v?)(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[A-Za-z0-9][A-Za-z0-9._-]*)?$`)

type tagShape struct {
	prefix, suffix string
	nums           []int
}

func parseTag(tag string) (tagShape, bool) {
	m := tagPattern.FindStringSubmatch(tag)
	if m == nil {
		return tagShape{}, false
	}
	s := tagShape{prefix: m[1], suffix: m[5]}
	for _, p := range m[2:5] {
		if p == "" {
			break
		}
		if len(p) > 1 && p[0] == '0' {
			return tagShape{}, false
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return tagShape{}, false
		}
		s.nums = append(s.nums, n)
	}
	return s, true
}

// tagKind says which number changed first: major, minor or patch. A
// one-number tag ("3") only has majors.
func tagKind(from, to tagShape) string {
	for i := range from.nums {
		if from.nums[i] != to.nums[i] {
			return [...]string{config.UpdateMajor, config.UpdateMinor, config.UpdatePatch}[i]
		}
	}
	return config.UpdatePatch
}

// ChooseTag returns the newest tag among tags that current may move to
// under the allowed kinds, keeping its shape: the same number of version
// parts, the same "v" prefix and the same suffix ("1.22-alpine" moves to
// "1.23-alpine", never to "1.23.1-alpine", "1.23" or "1.23-bookworm").
// It returns "" when there is none or current is not a version.
func ChooseTag(current string, tags []string, allowed []string) (tag, kind string) {
	cur, ok := parseTag(current)
	if !ok {
		return "", ""
	}
	var best tagShape
	bestTag := ""
	for _, t := range tags {
		s, ok := parseTag(t)
		if !ok || s.prefix != cur.prefix || s.suffix != cur.suffix || len(s.nums) != len(cur.nums) {
			continue
		}
		if slices.Compare(s.nums, cur.nums) <= 0 || !slices.Contains(allowed, tagKind(cur, s)) {
			continue
		}
		if bestTag == "" || slices.Compare(s.nums, best.nums) > 0 {
			best, bestTag = s, t
		}
	}
	if bestTag == "" {
		return "", ""
	}
	return bestTag, tagKind(cur, best)
}

// Dockerfile returns the upgrades of the base images of the Dockerfile at
// file (its content data). A FROM pinned to a digest gets the new tag's
// digest; a pinned tag with no newer tag gets its current digest if the
// tag has moved. Untagged and non-version tags ("latest") are left alone.
func (f *Finder) Dockerfile(ctx context.Context, file string, data []byte, p Policy) ([]Upgrade, []LeftOut) {
	if f.Images == nil {
		return nil, nil
	}
	var ups []Upgrade
	var left []LeftOut
	seen := map[string]bool{}
	for _, fr := range parseFroms(data) {
		r := fr.ref
		if seen[r.String()] || r.tag == "" || p.ignores(r.repo) {
			continue
		}
		seen[r.String()] = true
		if _, ok := parseTag(r.tag); !ok {
			continue
		}
		base := Upgrade{Ecosystem: DockerImage, File: file, Name: r.repo, NewName: r.repo, From: r.tag, FromDigest: r.digest}
		tags, err := f.Images.Tags(ctx, r.repo)
		if err != nil {
			left = append(left, LeftOut{Upgrade: base, Reason: "cannot list tags: " + oneLine(err.Error())})
			continue
		}
		to, kind := ChooseTag(r.tag, tags, p.Updates)
		if to == "" && r.digest == "" {
			continue
		}
		up := base
		up.To, up.Kind = to, kind
		if to == "" {
			up.To, up.Kind = r.tag, KindDigest
			if !p.allows(KindDigest) {
				continue
			}
		}
		if r.digest != "" {
			d, err := f.Images.Digest(ctx, r.repo+":"+up.To)
			if err != nil {
				left = append(left, LeftOut{Upgrade: up, Reason: "cannot resolve digest: " + oneLine(err.Error())})
				continue
			}
			if up.Kind == KindDigest && d == r.digest {
				continue
			}
			up.ToDigest = d
		}
		ups = append(ups, up)
	}
	return ups, left
}

// EditDockerfile applies the image upgrades among ups that belong to file
// to its content data, rewriting only the image references.
func EditDockerfile(file string, data []byte, ups []Upgrade) []byte {
	var b strings.Builder
	last := 0
	for _, fr := range parseFroms(data) {
		for _, u := range ups {
			if u.Ecosystem != DockerImage || u.File != file || u.Name != fr.ref.repo || u.From != fr.ref.tag || u.FromDigest != fr.ref.digest {
				continue
			}
			b.Write(data[last:fr.start])
			b.WriteString(imageRef{repo: u.Name, tag: u.To, digest: u.ToDigest}.String())
			last = fr.end
			break
		}
	}
	b.Write(data[last:])
	return []byte(b.String())
}
