package dependents

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

// workspace tries upgrades in scratch checkouts of one commit: a fresh
// directory per attempt, extracted from the commit's archive.
type workspace struct {
	archive  []byte   // the tree, as an uncompressed tar
	goBin    string   // go binary
	env      []string // environment of every command
	timeout  time.Duration
	commands []string // the project's build commands, run before go build
	secrets  []string // values never shown in logs
}

// tailLines is how much of a failing command's output is kept.
const tailLines = 30

// errChecksFailed marks an attempt whose build or tests failed (as opposed
// to one that could not be made).
var errChecksFailed = errors.New("checks failed")

// try applies ups in a fresh checkout, runs go mod tidy (and go mod vendor
// when the repository vendors), records the files that changed, then runs
// the checks. It returns the changed files and, on failure, the output of
// the failing command.
func (w *workspace) try(ctx context.Context, ups []Upgrade) ([]providers.FileChange, string, error) {
	dir, err := os.MkdirTemp("", "mainline-deps-")
	if err != nil {
		return nil, "", fmt.Errorf("scratch checkout: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := extract(bytes.NewReader(w.archive), dir); err != nil {
		return nil, "", fmt.Errorf("scratch checkout: %w", err)
	}
	before, err := snapshot(dir)
	if err != nil {
		return nil, "", err
	}
	if out, err := w.apply(ctx, dir, ups); err != nil {
		return nil, out, err
	}
	after, err := snapshot(dir)
	if err != nil {
		return nil, "", err
	}
	var files []providers.FileChange
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if before[p] == after[p] {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", p, err)
		}
		files = append(files, providers.FileChange{Path: p, Content: data})
	}
	if out, err := w.check(ctx, dir); err != nil {
		return files, out, err
	}
	return files, "", nil
}

// apply edits go.mod, the Go sources (for major upgrades) and Dockerfiles,
// then lets the go tool make go.sum (and vendor/) right.
func (w *workspace) apply(ctx context.Context, dir string, ups []Upgrade) (string, error) {
	var goUps []Upgrade
	dockerfiles := map[string][]Upgrade{}
	for _, u := range ups {
		switch u.Ecosystem {
		case GoModule:
			goUps = append(goUps, u)
		case DockerImage:
			dockerfiles[u.File] = append(dockerfiles[u.File], u)
		}
	}
	for file, us := range dockerfiles {
		p := filepath.Join(dir, filepath.FromSlash(file))
		data, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", file, err)
		}
		if err := os.WriteFile(p, EditDockerfile(file, data, us), 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", file, err)
		}
	}
	if len(goUps) == 0 {
		return "", nil
	}
	gomod := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("read go.mod: %w", err)
	}
	edited, err := EditGoMod(data, goUps)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(gomod, edited, 0o644); err != nil {
		return "", fmt.Errorf("write go.mod: %w", err)
	}
	for _, u := range goUps {
		if u.NewName != u.Name {
			if err := rewriteTree(dir, u.Name, u.NewName); err != nil {
				return "", err
			}
		}
	}
	if out, err := w.run(ctx, dir, w.goBin, "mod", "tidy"); err != nil {
		return out, fmt.Errorf("go mod tidy: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vendor", "modules.txt")); err == nil {
		if out, err := w.run(ctx, dir, w.goBin, "mod", "vendor"); err != nil {
			return out, fmt.Errorf("go mod vendor: %w", err)
		}
	}
	return "", nil
}

// check runs the project's build commands, then go build ./... and go test
// ./... when the repository is a Go module.
func (w *workspace) check(ctx context.Context, dir string) (string, error) {
	for _, c := range w.commands {
		if out, err := w.run(ctx, dir, "sh", "-c", c); err != nil {
			return out, fmt.Errorf("%s: %w: %w", c, errChecksFailed, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", nil
	}
	for _, args := range [][]string{{"build", "./..."}, {"test", "./..."}} {
		if out, err := w.run(ctx, dir, w.goBin, args...); err != nil {
			return out, fmt.Errorf("go %s: %w: %w", strings.Join(args, " "), errChecksFailed, err)
		}
	}
	return "", nil
}

// run runs one command in dir and returns the tail of its output, with
// secrets masked.
func (w *workspace) run(ctx context.Context, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = w.env
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (after %s)", ctx.Err(), w.timeout)
	}
	return w.mask(tail(out.String(), tailLines)), err
}

func (w *workspace) mask(s string) string {
	for _, sec := range w.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}

func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// commandEnv is the environment of the go tool in scratch checkouts: the
// process's, then extra (which wins), with -mod=mod in GOFLAGS so go.mod
// may change and no workspace file from outside.
func commandEnv(base, extra []string) []string {
	env := append(slices.Clone(base), extra...)
	flags := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOFLAGS="); ok {
			flags = v
		}
	}
	var kept []string
	for _, f := range strings.Fields(flags) {
		if !strings.HasPrefix(f, "-mod=") {
			kept = append(kept, f)
		}
	}
	kept = append(kept, "-mod=mod")
	return append(env, "GOFLAGS="+strings.Join(kept, " "), "GOWORK=off")
}

// urlSecrets returns the passwords of URLs in env values (a GOPROXY with
// credentials), to be masked in logs.
func urlSecrets(env []string) []string {
	var out []string
	for _, kv := range env {
		_, v, _ := strings.Cut(kv, "=")
		for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '|' }) {
			u, err := url.Parse(item)
			if err != nil || u.User == nil {
				continue
			}
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// rewriteTree rewrites imports of module old to new in every Go file of the
// module rooted at dir (not in vendor/, testdata/ or hidden directories).
func rewriteTree(dir, old, new string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && (name == "vendor" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || !d.Type().IsRegular() {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out, changed, err := RewriteImports(src, old, new)
		if err != nil || !changed {
			return nil // a file that does not parse is not ours to fix
		}
		return os.WriteFile(p, out, 0o644)
	})
}

// snapshot hashes every regular file under dir, by slash path.
func snapshot(dir string) (map[string][32]byte, error) {
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = sha256.Sum256(data)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return out, nil
}

// extract writes the tar r under dir. Entries that would leave dir are
// refused; symbolic links are kept only when they point inside the tree.
func extract(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			link := path.Clean(path.Join(path.Dir(name), h.Linkname))
			if path.IsAbs(h.Linkname) || link == ".." || strings.HasPrefix(link, "../") {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		}
	}
}

// result is what trying a run's upgrades came to.
type result struct {
	kept  []Upgrade
	files []providers.FileChange
	left  []LeftOut
}

// tryAll tries every unit together; when that fails, each unit alone, and
// then the ones that passed alone together. A unit is one upgrade, or a
// group of related upgrades that stand or fall together.
func (w *workspace) tryAll(ctx context.Context, units [][]Upgrade) (result, error) {
	all := slices.Concat(units...)
	files, log, err := w.try(ctx, all)
	if err == nil {
		return result{kept: all, files: files}, nil
	}
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}
	var res result
	fail := func(us []Upgrade, reason, log string) {
		for _, u := range us {
			res.left = append(res.left, LeftOut{Upgrade: u, Reason: reason, Log: log})
		}
	}
	if len(units) == 1 {
		fail(all, failReason(err), log)
		return res, w.baseBroken(ctx, &res)
	}
	var pass [][]Upgrade
	for _, u := range units {
		_, log, err := w.try(ctx, u)
		if ctx.Err() != nil {
			return result{}, ctx.Err()
		}
		if err != nil {
			fail(u, failReason(err), log)
			continue
		}
		pass = append(pass, u)
	}
	if len(pass) == 0 {
		return res, w.baseBroken(ctx, &res)
	}
	for len(pass) > 0 {
		kept := slices.Concat(pass...)
		files, log, err := w.try(ctx, kept)
		if ctx.Err() != nil {
			return result{}, ctx.Err()
		}
		if err == nil {
			res.kept, res.files = kept, files
			return res, nil
		}
		// Each passes alone but not together: drop the last and try again.
		last := pass[len(pass)-1]
		pass = pass[:len(pass)-1]
		fail(last, "passes alone but not together with the others: "+failReason(err), log)
	}
	return res, nil
}

// baseBroken checks, after every upgrade failed, whether the commit fails
// its checks without any upgrade; if so the reasons say that instead.
func (w *workspace) baseBroken(ctx context.Context, res *result) error {
	_, log, err := w.try(ctx, nil)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		return nil
	}
	for i := range res.left {
		res.left[i].Reason = "the branch fails its checks without any upgrade: " + failReason(err)
		res.left[i].Log = log
	}
	return nil
}

func failReason(err error) string {
	return oneLine(err.Error())
}
