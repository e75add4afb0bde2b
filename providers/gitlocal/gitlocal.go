package gitlocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

var (
	_ providers.SCM          = (*Repo)(nil)
	_ providers.Source       = (*Repo)(nil)
	_ providers.StatusSetter = (*Repo)(nil)
	_ providers.Deployments  = (*Repo)(nil)
	_ providers.PullRequests = (*Repo)(nil)
)

// Clock tells the time; it stamps the records kept beside the repository.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// RefUpdate describes a ref Mainline moved itself. Old is empty when the ref
// was created.
type RefUpdate struct {
	Ref string // full name, e.g. "refs/heads/main"
	Old string
	New string
}

// Option configures a Repo.
type Option func(*Repo)

// WithGit sets the git binary to run; the default is "git" from PATH.
func WithGit(path string) Option { return func(r *Repo) { r.gitBin = path } }

// WithIdentity sets the name and email on the commits and tags Mainline
// makes; the default is "Mainline <mainline@localhost>".
func WithIdentity(name, email string) Option {
	return func(r *Repo) { r.name, r.email = name, email }
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(r *Repo) { r.log = l } }

// WithClock sets the clock used to stamp records; the default is the system
// clock.
func WithClock(c Clock) Option { return func(r *Repo) { r.clock = c } }

// OnRefUpdate registers fn, called after Mainline itself has moved a ref
// (CreateTag, CommitFiles, MergePullRequest). git update-ref runs no hooks,
// so a post-receive hook never sees these updates; fn is how a caller that
// learns about pushes from hooks (the demo) wakes the controller instead.
// fn runs synchronously, after the update and outside any lock.
func OnRefUpdate(fn func(ctx context.Context, u RefUpdate)) Option {
	return func(r *Repo) { r.onRefUpdate = fn }
}

// Repo is one local git repository. It is safe for concurrent use, also by
// several processes working on the same repository.
type Repo struct {
	path        string // as given to Open
	gitDir      string // absolute
	commonDir   string // absolute; where the record lives
	gitBin      string
	name, email string
	log         *slog.Logger
	clock       Clock
	onRefUpdate func(context.Context, RefUpdate)

	mu sync.Mutex // serialises record access inside this process
}

// Open opens the git repository at path, bare or not.
func Open(path string, opts ...Option) (*Repo, error) {
	r := &Repo{
		path:   path,
		gitBin: "git",
		name:   "Mainline",
		email:  "mainline@localhost",
		log:    slog.New(slog.DiscardHandler),
		clock:  systemClock{},
	}
	for _, o := range opts {
		o(r)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	cmd := exec.Command(r.gitBin, "-C", abs, "rev-parse", "--absolute-git-dir", "--git-common-dir")
	cmd.Env = r.env(nil)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("open %s: not a git repository: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("open %s: unexpected rev-parse output %q", path, out)
	}
	r.gitDir = lines[0]
	r.commonDir = lines[1]
	if !filepath.IsAbs(r.commonDir) {
		// --git-common-dir is relative to the directory git ran in.
		r.commonDir = filepath.Join(abs, r.commonDir)
	}
	return r, nil
}

// GitDir returns the absolute path of the repository's git directory.
func (r *Repo) GitDir() string { return r.gitDir }

// env returns the environment for a git command: the process environment
// without any GIT_* variable that could point git at another repository or
// index, plus a fixed identity and no prompts. (Commands that could sign
// also get --no-sign/--no-gpg-sign: a user's signing config must neither
// lend Mainline their key nor block on a passphrase prompt.)
func (r *Repo) env(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "LC_ALL=") || strings.HasPrefix(kv, "LANGUAGE=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"LC_ALL=C",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME="+r.name,
		"GIT_AUTHOR_EMAIL="+r.email,
		"GIT_COMMITTER_NAME="+r.name,
		"GIT_COMMITTER_EMAIL="+r.email,
	)
	return append(env, extra...)
}

// gitError is a failed git command with what it printed on stderr.
type gitError struct {
	cmd    string
	code   int
	stderr string
	err    error
}

func (e *gitError) Error() string {
	if e.stderr == "" {
		return fmt.Sprintf("git %s: %v", e.cmd, e.err)
	}
	return fmt.Sprintf("git %s: %v: %s", e.cmd, e.err, e.stderr)
}

func (e *gitError) Unwrap() error { return e.err }

// exitCode returns the exit code of a failed git command, or -1.
func exitCode(err error) int {
	var ge *gitError
	if errors.As(err, &ge) {
		return ge.code
	}
	return -1
}

// run runs git with args against the repository and returns its stdout.
func (r *Repo) run(ctx context.Context, env []string, stdin io.Reader, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	if err := r.runTo(ctx, env, stdin, &stdout, args...); err != nil {
		return nil, err
	}
	return stdout.Bytes(), nil
}

func (r *Repo) runTo(ctx context.Context, env []string, stdin io.Reader, stdout io.Writer, args ...string) error {
	full := append([]string{"--git-dir=" + r.gitDir}, args...)
	cmd := exec.CommandContext(ctx, r.gitBin, full...)
	cmd.Env = r.env(env)
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("git %s: %w", args[0], ctxErr)
		}
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return &gitError{cmd: args[0], code: code, stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return nil
}

// line runs git and returns its output's first line.
func (r *Repo) line(ctx context.Context, env []string, stdin io.Reader, args ...string) (string, error) {
	out, err := r.run(ctx, env, stdin, args...)
	if err != nil {
		return "", err
	}
	s, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(s), nil
}

// checkName rejects names git would read as options or that are not valid
// ref names under prefix ("refs/heads/", "refs/tags/").
func (r *Repo) checkName(ctx context.Context, prefix, name string) error {
	if name == "" || strings.HasPrefix(name, "-") {
		return fmt.Errorf("invalid name %q", name)
	}
	if _, err := r.run(ctx, nil, nil, "check-ref-format", prefix+name); err != nil {
		if exitCode(err) == 1 {
			return fmt.Errorf("invalid name %q", name)
		}
		return err
	}
	return nil
}

// resolve returns the commit that rev (a branch, tag or SHA) names, or an
// error wrapping providers.ErrNotFound.
func (r *Repo) resolve(ctx context.Context, rev string) (string, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return "", fmt.Errorf("invalid revision %q", rev)
	}
	sha, err := r.line(ctx, nil, nil, "rev-parse", "-q", "--verify", "--end-of-options", rev+"^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return "", fmt.Errorf("revision %s: %w", rev, providers.ErrNotFound)
		}
		return "", fmt.Errorf("revision %s: %w", rev, err)
	}
	return sha, nil
}

// branchHead returns the commit at the tip of branch, or "" if it does not
// exist.
func (r *Repo) branchHead(ctx context.Context, branch string) (string, error) {
	sha, err := r.line(ctx, nil, nil, "rev-parse", "-q", "--verify", "--end-of-options", "refs/heads/"+branch+"^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return sha, nil
}

func (r *Repo) notify(ctx context.Context, u RefUpdate) {
	r.log.InfoContext(ctx, "ref updated", "ref", u.Ref, "old", u.Old, "new", u.New)
	if r.onRefUpdate != nil {
		r.onRefUpdate(ctx, u)
	}
}

// DefaultBranch returns the branch HEAD points at.
func (r *Repo) DefaultBranch(ctx context.Context) (string, error) {
	ref, err := r.line(ctx, nil, nil, "symbolic-ref", "-q", "HEAD")
	if err != nil {
		return "", fmt.Errorf("default branch: %w", err)
	}
	branch, ok := strings.CutPrefix(ref, "refs/heads/")
	if !ok {
		return "", fmt.Errorf("default branch: HEAD points at %s, not a branch", ref)
	}
	return branch, nil
}

// HeadSHA returns the commit at the tip of branch.
func (r *Repo) HeadSHA(ctx context.Context, branch string) (string, error) {
	if branch == "" || strings.HasPrefix(branch, "-") {
		return "", fmt.Errorf("head of %q: invalid branch name", branch)
	}
	sha, err := r.branchHead(ctx, branch)
	if err != nil {
		return "", fmt.Errorf("head of %s: %w", branch, err)
	}
	if sha == "" {
		return "", fmt.Errorf("head of %s: %w", branch, providers.ErrNotFound)
	}
	return sha, nil
}

// Tags lists every tag with the commit it points at, in name order.
func (r *Repo) Tags(ctx context.Context) ([]providers.Tag, error) {
	out, err := r.run(ctx, nil, nil, "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00%(objecttype)%00%(*objectname)%00%(*objecttype)", "refs/tags")
	if err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	var tags []providers.Tag
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "\x00")
		if len(f) != 5 {
			return nil, fmt.Errorf("tags: unexpected for-each-ref line %q", l)
		}
		name, sha := f[0], f[1]
		switch {
		case f[2] == "commit":
		case f[4] == "commit":
			sha = f[3]
		default:
			// A tag of a tree, a blob, or a tag of a tag: peel it fully.
			peeled, err := r.resolve(ctx, "refs/tags/"+name)
			if err != nil {
				continue // not a commit; not a version of anything
			}
			sha = peeled
		}
		tags = append(tags, providers.Tag{Name: name, SHA: sha})
	}
	return tags, nil
}

// refLockTimeout makes git wait for a ref lock another writer holds instead
// of failing at once, so that of two concurrent creates of the same ref the
// loser sees "already exists" rather than a lock error.
const refLockTimeout = "core.filesRefLockTimeout=5000"

// CreateTag creates the annotated tag name on sha. It relies on git's own
// atomic ref creation: of concurrent creators exactly one succeeds and the
// others get an error wrapping providers.ErrExists.
func (r *Repo) CreateTag(ctx context.Context, name, sha, message string) error {
	if err := r.checkName(ctx, "refs/tags/", name); err != nil {
		return fmt.Errorf("create tag: %w", err)
	}
	commit, err := r.resolve(ctx, sha)
	if err != nil {
		return fmt.Errorf("create tag %s: %w", name, err)
	}
	if message == "" {
		message = name
	}
	_, err = r.run(ctx, nil, strings.NewReader(message),
		"-c", refLockTimeout, "tag", "-a", "--no-sign", "--cleanup=verbatim", "-F", "-", "--", name, commit)
	if err != nil {
		if exists, _ := r.refExists(ctx, "refs/tags/"+name); exists {
			return fmt.Errorf("create tag %s: %w", name, providers.ErrExists)
		}
		return fmt.Errorf("create tag %s: %w", name, err)
	}
	r.notify(ctx, RefUpdate{Ref: "refs/tags/" + name, New: commit})
	return nil
}

func (r *Repo) refExists(ctx context.Context, ref string) (bool, error) {
	_, err := r.run(ctx, nil, nil, "rev-parse", "-q", "--verify", "--end-of-options", ref)
	if err != nil {
		if exitCode(err) == 1 {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// ReadFile returns the content of path at ref.
func (r *Repo) ReadFile(ctx context.Context, ref, path string) ([]byte, error) {
	p := strings.TrimPrefix(filepath.ToSlash(path), "/")
	if p == "" {
		return nil, fmt.Errorf("read %s at %s: empty path", path, ref)
	}
	commit, err := r.resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, ref, err)
	}
	// rev-parse first so a missing path is told apart from other failures
	// by exit code rather than by parsing messages.
	oid, err := r.line(ctx, nil, nil, "rev-parse", "-q", "--verify", "--end-of-options", commit+":"+p)
	if err != nil {
		if exitCode(err) == 1 {
			return nil, fmt.Errorf("read %s at %s: %w", path, ref, providers.ErrNotFound)
		}
		return nil, fmt.Errorf("read %s at %s: %w", path, ref, err)
	}
	// cat-file gives the exact bytes (git show may apply textconv filters).
	out, err := r.run(ctx, nil, nil, "cat-file", "blob", oid)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: not a file: %w", path, ref, err)
	}
	return out, nil
}

// Archive writes the tree at ref to w as an uncompressed tar, paths relative
// to the repository root.
func (r *Repo) Archive(ctx context.Context, ref string, w io.Writer) error {
	commit, err := r.resolve(ctx, ref)
	if err != nil {
		return fmt.Errorf("archive %s: %w", ref, err)
	}
	if err := r.runTo(ctx, nil, nil, w, "archive", "--format=tar", commit); err != nil {
		return fmt.Errorf("archive %s: %w", ref, err)
	}
	return nil
}
