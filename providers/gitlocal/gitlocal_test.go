package gitlocal_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
	"github.com/mainline-cd/mainline/providers/scmtest"
)

// git runs git in dir as a developer would and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@localhost",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@localhost",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// devClone is a developer's clone of a repository, used to commit and push
// from outside the provider.
type devClone struct {
	dir string
}

func newDevClone(t *testing.T, origin string) *devClone {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	git(t, filepath.Dir(dir), "clone", "-q", origin, dir)
	return &devClone{dir: dir}
}

// commit writes files on branch (created from main if missing) and pushes.
func (c *devClone) commit(t *testing.T, branch string, files map[string]string) string {
	t.Helper()
	git(t, c.dir, "fetch", "-q", "origin")
	start := "origin/main"
	if git(t, c.dir, "ls-remote", "--heads", "origin", branch) != "" {
		start = "origin/" + branch
	}
	git(t, c.dir, "checkout", "-q", "-B", branch, start)
	for p, content := range files {
		full := filepath.Join(c.dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, c.dir, "add", "-A")
	git(t, c.dir, "commit", "-q", "--allow-empty", "-m", "dev commit")
	git(t, c.dir, "push", "-q", "origin", branch)
	return git(t, c.dir, "rev-parse", "HEAD")
}

// newBare makes a bare repository with one commit on main and a clone of it.
func newBare(t *testing.T) (string, *devClone) {
	t.Helper()
	root := t.TempDir()
	bare := filepath.Join(root, "origin.git")
	git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	seed := filepath.Join(root, "seed")
	git(t, root, "init", "-q", "-b", "main", seed)
	if err := os.WriteFile(filepath.Join(seed, "README.md"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, seed, "add", "README.md")
	git(t, seed, "commit", "-q", "-m", "initial")
	git(t, seed, "push", "-q", bare, "main")
	return bare, newDevClone(t, bare)
}

func fixture(t *testing.T, repo *gitlocal.Repo, clone *devClone) scmtest.Fixture {
	return scmtest.Fixture{
		SCM:           repo,
		DefaultBranch: "main",
		Commit:        clone.commit,
		Deployment: func(t *testing.T, id int64) (string, string) {
			d, err := repo.Deployment(context.Background(), id)
			if err != nil {
				t.Fatalf("Deployment(%d): %v", id, err)
			}
			state := ""
			if n := len(d.Statuses); n > 0 {
				state = d.Statuses[n-1].State
			}
			return d.Environment, state
		},
	}
}

func TestConformanceBare(t *testing.T) {
	scmtest.Run(t, func(t *testing.T) scmtest.Fixture {
		bare, clone := newBare(t)
		repo, err := gitlocal.Open(bare)
		if err != nil {
			t.Fatal(err)
		}
		return fixture(t, repo, clone)
	})
}

// TestNonBareUntouched uses a developer's own non-bare repository, with
// unsaved work in its tree: Mainline's writes must not touch the work tree
// or the index.
func TestNonBareUntouched(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	work := filepath.Join(root, "work")
	git(t, root, "init", "-q", "-b", "main", work)
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", "README.md")
	git(t, work, "commit", "-q", "-m", "initial")
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("edited, not committed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "staged.txt"), []byte("staged\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", "staged.txt")
	before := git(t, work, "status", "--porcelain")

	repo, err := gitlocal.Open(filepath.Join(work, "."))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := repo.DefaultBranch(ctx); err != nil || got != "main" {
		t.Fatalf("DefaultBranch = %q, %v; want main", got, err)
	}
	head, err := repo.HeadSHA(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.CreateTag(ctx, "0.0.1", head, "first"); err != nil {
		t.Fatal(err)
	}
	sha, err := repo.CommitFiles(ctx, "deps", "main", "Upgrade", []providers.FileChange{{Path: "README.md", Content: []byte("from mainline\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := repo.ReadFile(ctx, sha, "README.md"); err != nil || string(got) != "from mainline\n" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	pr, err := repo.OpenPullRequest(ctx, providers.PullRequest{Title: "Upgrade", Head: "deps", Base: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.ClosePullRequest(ctx, pr.Number, "no"); err != nil {
		t.Fatal(err)
	}
	if got := git(t, work, "status", "--porcelain"); got != before {
		t.Errorf("git status changed:\n%s\nwant:\n%s", got, before)
	}
	if got, err := os.ReadFile(filepath.Join(work, "README.md")); err != nil || string(got) != "edited, not committed\n" {
		t.Errorf("work tree README.md = %q, %v", got, err)
	}
}

// TestRecordSharedBetweenValues opens the same repository twice, as two
// processes would, and opens pull requests from both at once: the record
// must come out whole, with every number used once.
func TestRecordSharedBetweenValues(t *testing.T) {
	ctx := context.Background()
	bare, clone := newBare(t)
	const n = 10
	for i := range n {
		clone.commit(t, fmt.Sprintf("b%d", i), map[string]string{"f.txt": fmt.Sprint(i)})
	}
	a, err := gitlocal.Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gitlocal.Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	numbers := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := a
			if i%2 == 1 {
				repo = b
			}
			pr, err := repo.OpenPullRequest(ctx, providers.PullRequest{Title: "t", Head: fmt.Sprintf("b%d", i), Base: "main"})
			if err != nil {
				t.Errorf("OpenPullRequest(b%d): %v", i, err)
				return
			}
			numbers[i] = pr.Number
		}()
	}
	wg.Wait()
	seen := make(map[int]bool)
	for i, num := range numbers {
		if seen[num] {
			t.Errorf("pull request number %d handed out twice", num)
		}
		seen[num] = true
		list, err := b.PullRequestsFrom(ctx, fmt.Sprintf("b%d", i))
		if err != nil || len(list) != 1 || list[0].Number != num {
			t.Errorf("PullRequestsFrom(b%d) = %+v, %v; want #%d", i, list, err, num)
		}
	}
}

// TestOnRefUpdate checks that the refs Mainline moves itself are reported,
// since git update-ref runs no post-receive hook.
func TestOnRefUpdate(t *testing.T) {
	ctx := context.Background()
	bare, _ := newBare(t)
	var got []gitlocal.RefUpdate
	repo, err := gitlocal.Open(bare, gitlocal.OnRefUpdate(func(_ context.Context, u gitlocal.RefUpdate) {
		got = append(got, u)
	}))
	if err != nil {
		t.Fatal(err)
	}
	base, err := repo.HeadSHA(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.CommitFiles(ctx, "deps", "main", "Upgrade", []providers.FileChange{{Path: "go.mod", Content: []byte("module x\n")}})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := repo.OpenPullRequest(ctx, providers.PullRequest{Title: "Upgrade", Head: "deps", Base: "main"})
	if err != nil {
		t.Fatal(err)
	}
	merged, err := repo.MergePullRequest(ctx, pr.Number, head, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.CreateTag(ctx, "0.0.1", merged, "release"); err != nil {
		t.Fatal(err)
	}
	want := []gitlocal.RefUpdate{
		{Ref: "refs/heads/deps", Old: "", New: head},
		{Ref: "refs/heads/main", Old: base, New: merged},
		{Ref: "refs/tags/0.0.1", New: merged},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ref updates = %+v, want %+v", got, want)
	}
	if typ := git(t, bare, "cat-file", "-t", "refs/tags/0.0.1"); typ != "tag" {
		t.Errorf("tag 0.0.1 is a %s object, want an annotated tag", typ)
	}
	if tagger := git(t, bare, "for-each-ref", "--format=%(taggername) %(taggeremail)", "refs/tags/0.0.1"); tagger != "Mainline <mainline@localhost>" {
		t.Errorf("tagger = %q, want Mainline <mainline@localhost>", tagger)
	}
	msg := git(t, bare, "log", "-1", "--format=%s%n%an <%ae>", "main")
	if msg != "Upgrade (#1)\nMainline <mainline@localhost>" {
		t.Errorf("merge commit subject and author = %q", msg)
	}
}
