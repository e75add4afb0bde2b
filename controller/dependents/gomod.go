package dependents

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/mainline-cd/mainline/deploy/config"
	"github.com/mainline-cd/mainline/providers"
)

// Finder finds the upgrades of one repository's dependencies.
type Finder struct {
	// Index lists module versions; share one across repositories so each
	// module is looked up once.
	Index providers.ModuleIndex
	// Images lists image tags; nil leaves Dockerfiles alone.
	Images ImageIndex
	// Parallel bounds concurrent lookups for one file (default 8).
	Parallel int
}

// maxMajorProbe is how many major versions above the current one are
// looked for (…/v3, …/v4, …); the search stops at the first that does not
// exist.
const maxMajorProbe = 5

func parseGoMod(data []byte) (*modfile.File, error) {
	return modfile.ParseLax("go.mod", data, nil)
}

// ModulePath returns the module path a go.mod declares, or "".
func ModulePath(gomod []byte) string {
	return modfile.ModulePath(gomod)
}

// GoModule returns the upgrades of the direct requirements of the go.mod
// data under p, and the ones it cannot propose with the reason. A module
// replaced in go.mod is left alone (the replacement wins over any version);
// a module that cannot be resolved is left out and does not stop the rest.
func (f *Finder) GoModule(ctx context.Context, data []byte, p Policy) ([]Upgrade, []LeftOut, error) {
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("parse go.mod: %w", err)
	}
	replaced := map[string]string{}
	for _, r := range mf.Replace {
		to := r.New.Path
		if r.New.Version != "" {
			to += "@" + r.New.Version
		}
		replaced[r.Old.Path+"@"+r.Old.Version] = to
	}
	type result struct {
		up   *Upgrade
		left *LeftOut
	}
	var reqs []*modfile.Require
	for _, r := range mf.Require {
		if !r.Indirect {
			reqs = append(reqs, r)
		}
	}
	results := make([]result, len(reqs))
	limit := f.Parallel
	if limit <= 0 {
		limit = 8
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, r := range reqs {
		base := Upgrade{Ecosystem: GoModule, File: "go.mod", Name: r.Mod.Path, NewName: r.Mod.Path, From: r.Mod.Version}
		if to, ok := replaced[r.Mod.Path+"@"]; ok {
			results[i].left = &LeftOut{Upgrade: base, Reason: "replaced by " + to + " in go.mod; left alone"}
			continue
		}
		if to, ok := replaced[r.Mod.Path+"@"+r.Mod.Version]; ok {
			results[i].left = &LeftOut{Upgrade: base, Reason: "replaced by " + to + " in go.mod; left alone"}
			continue
		}
		if p.ignores(r.Mod.Path) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].left = &LeftOut{Upgrade: base, Reason: ctx.Err().Error()}
				return
			}
			defer func() { <-sem }()
			up, left := f.module(ctx, base, p)
			results[i] = result{up, left}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var ups []Upgrade
	var left []LeftOut
	for _, r := range results {
		if r.up != nil {
			ups = append(ups, *r.up)
		}
		if r.left != nil {
			left = append(left, *r.left)
		}
	}
	return ups, left, nil
}

// module chooses the upgrade of one requirement: the newest allowed
// version of its path, or of a newer major version's path when majors are
// allowed, that is old enough.
func (f *Finder) module(ctx context.Context, base Upgrade, p Policy) (*Upgrade, *LeftOut) {
	path, cur := base.Name, base.From
	vs, err := f.Index.Versions(ctx, path)
	if err != nil {
		return nil, &LeftOut{Upgrade: base, Reason: "cannot resolve: " + oneLine(err.Error())}
	}
	type cand struct{ path, version string }
	var cands []cand
	if p.allows(config.UpdateMajor) {
		prefix, pathMajor, ok := module.SplitPathVersion(path)
		if ok {
			n := majorNumber(pathMajor, cur)
			var majors [][]cand
			for next := max(n+1, 2); next <= n+maxMajorProbe; next++ {
				np := nextMajorPath(prefix, pathMajor, next)
				nvs, err := f.Index.Versions(ctx, np)
				if errors.Is(err, providers.ErrNotFound) || (err == nil && len(nvs) == 0) {
					break
				}
				if err != nil {
					return nil, &LeftOut{Upgrade: base, Reason: "cannot resolve " + np + ": " + oneLine(err.Error())}
				}
				var line []cand
				for _, v := range Candidates(cur, nvs, p.Updates) {
					if module.CheckPathMajor(v, pathMajorOf(np)) == nil {
						line = append(line, cand{np, v})
					}
				}
				majors = append(majors, line)
			}
			for i := len(majors) - 1; i >= 0; i-- {
				cands = append(cands, majors[i]...)
			}
		}
	}
	for _, v := range Candidates(cur, vs, p.Updates) {
		cands = append(cands, cand{path, v})
	}
	var tooNew []string
	for _, c := range cands {
		if p.MinReleaseAge > 0 {
			at, err := f.Index.Published(ctx, c.path, c.version)
			if err != nil {
				tooNew = append(tooNew, fmt.Sprintf("%s (publication time unknown: %s)", c.version, oneLine(err.Error())))
				continue
			}
			if p.Now.Sub(at) < p.MinReleaseAge {
				tooNew = append(tooNew, fmt.Sprintf("%s (published %s)", c.version, at.UTC().Format(time.DateOnly)))
				continue
			}
		}
		up := base
		up.NewName, up.To, up.Kind = c.path, c.version, Kind(cur, c.version)
		return &up, nil
	}
	if len(tooNew) > 0 {
		left := base
		left.To = strings.Fields(tooNew[0])[0]
		left.Kind = Kind(cur, left.To)
		return nil, &LeftOut{Upgrade: left, Reason: fmt.Sprintf("younger than the minimum release age %s: %s", p.MinReleaseAge, strings.Join(tooNew, ", "))}
	}
	return nil, nil
}

// majorNumber is the major version of a module from its path suffix
// ("/v3", ".v2") or, without one, from its version (v0, v1, or N for
// vN.x.y+incompatible).
func majorNumber(pathMajor, version string) int {
	s := strings.TrimLeft(pathMajor, "/.")
	if s == "" {
		s = semver.Major(version)
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(s, "v"))
	return n
}

func pathMajorOf(path string) string {
	_, pm, _ := module.SplitPathVersion(path)
	return pm
}

// EditGoMod applies the Go upgrades among ups to the go.mod data: each
// requirement's version is set, and a major upgrade replaces the old path's
// requirement with the new path's. Other lines, comments and replace
// directives are kept.
func EditGoMod(data []byte, ups []Upgrade) ([]byte, error) {
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return nil, fmt.Errorf("parse go.mod: %w", err)
	}
	for _, u := range ups {
		if u.Ecosystem != GoModule {
			continue
		}
		if u.NewName == "" || u.NewName == u.Name {
			if err := mf.AddRequire(u.Name, u.To); err != nil {
				return nil, fmt.Errorf("require %s %s: %w", u.Name, u.To, err)
			}
			continue
		}
		if err := mf.DropRequire(u.Name); err != nil {
			return nil, fmt.Errorf("drop %s: %w", u.Name, err)
		}
		if err := mf.AddRequire(u.NewName, u.To); err != nil {
			return nil, fmt.Errorf("require %s %s: %w", u.NewName, u.To, err)
		}
	}
	mf.Cleanup()
	out, err := mf.Format()
	if err != nil {
		return nil, fmt.Errorf("format go.mod: %w", err)
	}
	return out, nil
}

// RewriteImports changes the import paths in one Go source file from the
// module path old (and its packages) to new, as a major upgrade needs. It
// reports whether anything changed; everything but the import paths is
// kept byte for byte.
func RewriteImports(src []byte, old, new string) ([]byte, bool, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return nil, false, err
	}
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		var np string
		switch {
		case p == old:
			np = new
		case strings.HasPrefix(p, old+"/"):
			np = new + p[len(old):]
			// A package of a newer major path is not a package of the old
			// module ("example.com/m/v2/x" is not under "example.com/m").
			if _, pm, _ := module.SplitPathVersion(old); pm == "" && strings.HasPrefix(p[len(old)+1:], "v") && isMajorElem(strings.SplitN(p[len(old)+1:], "/", 2)[0]) {
				continue
			}
		default:
			continue
		}
		off := fset.Position(imp.Path.Pos()).Offset
		end := fset.Position(imp.Path.End()).Offset
		edits = append(edits, edit{off, end, strconv.Quote(np)})
	}
	if len(edits) == 0 {
		return src, false, nil
	}
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.Write(src[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.Write(src[last:])
	return []byte(b.String()), true, nil
}

func isMajorElem(s string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	return err == nil && n >= 2 && "v"+strconv.Itoa(n) == s
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
