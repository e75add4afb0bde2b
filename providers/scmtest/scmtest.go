// Package scmtest is a conformance suite for implementations of the SCM
// interfaces in package providers (SCM, Source, StatusSetter, Deployments and
// PullRequests), in the manner of testing/fstest.
//
// Each implementation's tests call Run with a function that makes a fresh
// repository; providers/gitlocal and providers/github both do. Only tests
// import it.
package scmtest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/providers"
)

// Fixture is one fresh repository behind the SCM under test.
type Fixture struct {
	// SCM is the implementation under test. Its repository has a default
	// branch named DefaultBranch with at least one commit and no tags. It
	// must also implement providers.Source, StatusSetter, Deployments and
	// PullRequests; the suite reports each one missing as an error.
	SCM providers.SCM
	// DefaultBranch is the name SCM.DefaultBranch must return.
	DefaultBranch string
	// Commit adds a commit on branch from outside the SCM, as a developer's
	// push would, writing files (path → content) over the branch's tree. A
	// missing branch is created from DefaultBranch. It returns the commit.
	Commit func(t *testing.T, branch string, files map[string]string) string
	// Deployment, if not nil, reports what the repository recorded for
	// deployment id: its environment and the state of its latest status
	// ("" when it has none).
	Deployment func(t *testing.T, id int64) (environment, state string)
}

// Run runs the suite, each test on a repository newFixture makes for it.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	tests := []struct {
		name string
		fn   func(*testing.T, Fixture)
	}{
		{"DefaultBranch", testDefaultBranch},
		{"HeadMoves", testHeadMoves},
		{"TagsPeeled", testTagsPeeled},
		{"CreateTagTwice", testCreateTagTwice},
		{"CreateTagConcurrent", testCreateTagConcurrent},
		{"CreateTagMissingCommit", testCreateTagMissingCommit},
		{"ReadFile", testReadFile},
		{"Archive", testArchive},
		{"CommitFilesNewBranch", testCommitFilesNewBranch},
		{"CommitFilesExistingBranch", testCommitFilesExistingBranch},
		{"PullRequests", testPullRequests},
		{"MergeAfterBaseMoved", testMergeAfterBaseMoved},
		{"ClosePullRequest", testClosePullRequest},
		{"Statuses", testStatuses},
		{"Deployments", testDeployments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newFixture(t))
		})
	}
}

func head(t *testing.T, f Fixture, branch string) string {
	t.Helper()
	sha, err := f.SCM.HeadSHA(context.Background(), branch)
	if err != nil {
		t.Fatalf("HeadSHA(%q): %v", branch, err)
	}
	return sha
}

func tagMap(t *testing.T, f Fixture) map[string]string {
	t.Helper()
	tags, err := f.SCM.Tags(context.Background())
	if err != nil {
		t.Fatalf("Tags: %v", err)
	}
	m := make(map[string]string, len(tags))
	for _, tg := range tags {
		if _, dup := m[tg.Name]; dup {
			t.Errorf("Tags lists %q twice", tg.Name)
		}
		m[tg.Name] = tg.SHA
	}
	return m
}

func readFile(t *testing.T, f Fixture, ref, path string) string {
	t.Helper()
	b, err := f.SCM.ReadFile(context.Background(), ref, path)
	if err != nil {
		t.Fatalf("ReadFile(%q, %q): %v", ref, path, err)
	}
	return string(b)
}

func pulls(t *testing.T, f Fixture) providers.PullRequests {
	t.Helper()
	p, ok := f.SCM.(providers.PullRequests)
	if !ok {
		t.Fatalf("%T does not implement providers.PullRequests", f.SCM)
	}
	return p
}

func testDefaultBranch(t *testing.T, f Fixture) {
	got, err := f.SCM.DefaultBranch(context.Background())
	if err != nil {
		t.Fatalf("DefaultBranch: %v", err)
	}
	if got != f.DefaultBranch {
		t.Errorf("DefaultBranch = %q, want %q", got, f.DefaultBranch)
	}
}

func testHeadMoves(t *testing.T, f Fixture) {
	ctx := context.Background()
	before := head(t, f, f.DefaultBranch)
	want := f.Commit(t, f.DefaultBranch, map[string]string{"moved.txt": "moved\n"})
	if want == before {
		t.Fatalf("Commit returned the old head %s", before)
	}
	if got := head(t, f, f.DefaultBranch); got != want {
		t.Errorf("HeadSHA after a commit = %s, want %s", got, want)
	}
	if _, err := f.SCM.HeadSHA(ctx, "no-such-branch"); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("HeadSHA(no-such-branch) error = %v, want ErrNotFound", err)
	}
}

func testTagsPeeled(t *testing.T, f Fixture) {
	ctx := context.Background()
	if got := tagMap(t, f); len(got) != 0 {
		t.Fatalf("fresh repository has tags %v", got)
	}
	first := head(t, f, f.DefaultBranch)
	second := f.Commit(t, f.DefaultBranch, map[string]string{"v2.txt": "2\n"})
	if err := f.SCM.CreateTag(ctx, "0.0.1", first, "release 0.0.1"); err != nil {
		t.Fatalf("CreateTag(0.0.1): %v", err)
	}
	if err := f.SCM.CreateTag(ctx, "0.0.2", second, "release 0.0.2\n\n#2 with a hash line"); err != nil {
		t.Fatalf("CreateTag(0.0.2): %v", err)
	}
	got := tagMap(t, f)
	want := map[string]string{"0.0.1": first, "0.0.2": second}
	if len(got) != len(want) {
		t.Errorf("Tags = %v, want %v", got, want)
	}
	for name, sha := range want {
		if got[name] != sha {
			t.Errorf("tag %s points at %q, want the commit %s", name, got[name], sha)
		}
	}
	// A tag is a ref: ReadFile and HeadSHA-independent reads work at it.
	if got := readFile(t, f, "0.0.2", "v2.txt"); got != "2\n" {
		t.Errorf("ReadFile at tag = %q, want %q", got, "2\n")
	}
}

func testCreateTagTwice(t *testing.T, f Fixture) {
	ctx := context.Background()
	first := head(t, f, f.DefaultBranch)
	second := f.Commit(t, f.DefaultBranch, map[string]string{"b.txt": "b\n"})
	if err := f.SCM.CreateTag(ctx, "v1.0.0", first, "one"); err != nil {
		t.Fatalf("CreateTag: %v", err)
	}
	for _, sha := range []string{first, second} {
		err := f.SCM.CreateTag(ctx, "v1.0.0", sha, "again")
		if !errors.Is(err, providers.ErrExists) {
			t.Errorf("CreateTag of an existing name on %s: error = %v, want ErrExists", sha, err)
		}
	}
	if got := tagMap(t, f)["v1.0.0"]; got != first {
		t.Errorf("after failed creates, v1.0.0 points at %s, want %s (unchanged)", got, first)
	}
}

func testCreateTagConcurrent(t *testing.T, f Fixture) {
	ctx := context.Background()
	sha := head(t, f, f.DefaultBranch)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f.SCM.CreateTag(ctx, "0.1.0", sha, "race")
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, providers.ErrExists):
			t.Errorf("creator %d: error = %v, want nil or ErrExists", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent CreateTag calls succeeded, want exactly 1", ok, n)
	}
	if got := tagMap(t, f)["0.1.0"]; got != sha {
		t.Errorf("tag 0.1.0 points at %q, want %s", got, sha)
	}
}

func testCreateTagMissingCommit(t *testing.T, f Fixture) {
	ctx := context.Background()
	const missing = "0123456789abcdef0123456789abcdef01234567"
	if err := f.SCM.CreateTag(ctx, "0.9.9", missing, "nothing"); err == nil {
		t.Errorf("CreateTag on a missing commit succeeded")
	}
	if got, ok := tagMap(t, f)["0.9.9"]; ok {
		t.Errorf("failed CreateTag left tag 0.9.9 on %s", got)
	}
}

func testReadFile(t *testing.T, f Fixture) {
	ctx := context.Background()
	sha := f.Commit(t, f.DefaultBranch, map[string]string{
		".mainline.yaml":     "branch: main\n",
		"deploy/verify.yaml": "steps: []\n",
	})
	f.Commit(t, f.DefaultBranch, map[string]string{".mainline.yaml": "branch: other\n"})
	tests := []struct {
		ref, path, want string
	}{
		{sha, ".mainline.yaml", "branch: main\n"},
		{f.DefaultBranch, ".mainline.yaml", "branch: other\n"},
		{f.DefaultBranch, "deploy/verify.yaml", "steps: []\n"},
	}
	for _, tt := range tests {
		if got := readFile(t, f, tt.ref, tt.path); got != tt.want {
			t.Errorf("ReadFile(%q, %q) = %q, want %q", tt.ref, tt.path, got, tt.want)
		}
	}
	notFound := []struct{ ref, path string }{
		{f.DefaultBranch, "missing.yaml"},
		{f.DefaultBranch, "deploy/missing.yaml"},
		{"no-such-branch", ".mainline.yaml"},
	}
	for _, tt := range notFound {
		if _, err := f.SCM.ReadFile(ctx, tt.ref, tt.path); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("ReadFile(%q, %q) error = %v, want ErrNotFound", tt.ref, tt.path, err)
		}
	}
}

// untar returns the regular files in a tar stream, path → content.
func untar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	files := make(map[string]string)
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("reading archive: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s from archive: %v", h.Name, err)
		}
		files[h.Name] = string(b)
	}
}

func testArchive(t *testing.T, f Fixture) {
	ctx := context.Background()
	src, ok := f.SCM.(providers.Source)
	if !ok {
		t.Fatalf("%T does not implement providers.Source", f.SCM)
	}
	sha := f.Commit(t, f.DefaultBranch, map[string]string{
		"Dockerfile":      "FROM scratch\n",
		"cmd/app/main.go": "package main\n",
	})
	f.Commit(t, f.DefaultBranch, map[string]string{"Dockerfile": "FROM scratch\nCOPY app /\n"})
	var buf bytes.Buffer
	if err := src.Archive(ctx, sha, &buf); err != nil {
		t.Fatalf("Archive(%s): %v", sha, err)
	}
	files := untar(t, &buf)
	want := map[string]string{"Dockerfile": "FROM scratch\n", "cmd/app/main.go": "package main\n"}
	for p, c := range want {
		if files[p] != c {
			t.Errorf("archive at %s: %s = %q, want %q (files: %v)", sha, p, files[p], c, keys(files))
		}
	}
	if err := src.Archive(ctx, "no-such-ref", io.Discard); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Archive(no-such-ref) error = %v, want ErrNotFound", err)
	}
}

func keys(m map[string]string) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	return k
}

func testCommitFilesNewBranch(t *testing.T, f Fixture) {
	ctx := context.Background()
	p := pulls(t, f)
	base := f.Commit(t, f.DefaultBranch, map[string]string{"go.mod": "module x\n", "keep.txt": "keep\n"})
	sha, err := p.CommitFiles(ctx, "mainline/deps", f.DefaultBranch, "Upgrade dependencies", []providers.FileChange{
		{Path: "go.mod", Content: []byte("module x\n\nrequire y v1.2.3\n")},
		{Path: "new/dir/file.txt", Content: []byte("new\n")},
	})
	if err != nil {
		t.Fatalf("CommitFiles: %v", err)
	}
	if got := head(t, f, "mainline/deps"); got != sha {
		t.Errorf("branch head = %s, want the returned commit %s", got, sha)
	}
	if got := head(t, f, f.DefaultBranch); got != base {
		t.Errorf("CommitFiles moved the base branch to %s, want %s", got, base)
	}
	for path, want := range map[string]string{
		"go.mod":           "module x\n\nrequire y v1.2.3\n",
		"new/dir/file.txt": "new\n",
		"keep.txt":         "keep\n",
	} {
		if got := readFile(t, f, sha, path); got != want {
			t.Errorf("ReadFile(%s) on the new commit = %q, want %q", path, got, want)
		}
	}
	if got := readFile(t, f, f.DefaultBranch, "go.mod"); got != "module x\n" {
		t.Errorf("base go.mod = %q, want unchanged", got)
	}
	if _, err := p.CommitFiles(ctx, "x", "no-such-base", "m", nil); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("CommitFiles on a missing base: error = %v, want ErrNotFound", err)
	}
}

func testCommitFilesExistingBranch(t *testing.T, f Fixture) {
	ctx := context.Background()
	p := pulls(t, f)
	old := f.Commit(t, "mainline/deps", map[string]string{"stale.txt": "stale\n"})
	sha, err := p.CommitFiles(ctx, "mainline/deps", f.DefaultBranch, "Again", []providers.FileChange{
		{Path: "fresh.txt", Content: []byte("fresh\n")},
	})
	if err != nil {
		t.Fatalf("CommitFiles on an existing branch: %v", err)
	}
	if sha == old {
		t.Fatalf("CommitFiles returned the old head")
	}
	if got := head(t, f, "mainline/deps"); got != sha {
		t.Errorf("branch head = %s, want %s (force-updated)", got, sha)
	}
	if got := readFile(t, f, sha, "fresh.txt"); got != "fresh\n" {
		t.Errorf("fresh.txt = %q", got)
	}
	if _, err := f.SCM.ReadFile(ctx, sha, "stale.txt"); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("stale.txt from the old branch head is still there (error %v); the branch must be rebuilt on base", err)
	}
}

func openPR(t *testing.T, f Fixture, head, title string) providers.PullRequest {
	t.Helper()
	pr, err := pulls(t, f).OpenPullRequest(context.Background(), providers.PullRequest{
		Title: title, Body: "body of " + title, Head: head, Base: f.DefaultBranch,
	})
	if err != nil {
		t.Fatalf("OpenPullRequest(%s): %v", head, err)
	}
	return pr
}

func testPullRequests(t *testing.T, f Fixture) {
	ctx := context.Background()
	p := pulls(t, f)
	base := head(t, f, f.DefaultBranch)
	sha, err := p.CommitFiles(ctx, "deps", f.DefaultBranch, "Upgrade", []providers.FileChange{{Path: "go.sum", Content: []byte("sum\n")}})
	if err != nil {
		t.Fatalf("CommitFiles: %v", err)
	}
	pr := openPR(t, f, "deps", "Upgrade dependencies")
	if pr.Number <= 0 || pr.URL == "" || pr.State != "open" || pr.Merged || pr.HeadSHA != sha || pr.Head != "deps" || pr.Base != f.DefaultBranch {
		t.Errorf("OpenPullRequest = %+v, want a number, a URL, state open, head deps at %s", pr, sha)
	}
	if _, err := p.OpenPullRequest(ctx, providers.PullRequest{Title: "dup", Head: "deps", Base: f.DefaultBranch}); !errors.Is(err, providers.ErrExists) {
		t.Errorf("second OpenPullRequest for the same head: error = %v, want ErrExists", err)
	}
	if _, err := p.OpenPullRequest(ctx, providers.PullRequest{Title: "x", Head: "no-such-branch", Base: f.DefaultBranch}); err == nil {
		t.Errorf("OpenPullRequest from a missing branch succeeded")
	}

	if err := p.UpdatePullRequest(ctx, pr.Number, "Upgrade 3 dependencies", "new body"); err != nil {
		t.Fatalf("UpdatePullRequest: %v", err)
	}
	if err := p.UpdatePullRequest(ctx, 9999, "t", "b"); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("UpdatePullRequest(9999) error = %v, want ErrNotFound", err)
	}
	list, err := p.PullRequestsFrom(ctx, "deps")
	if err != nil {
		t.Fatalf("PullRequestsFrom: %v", err)
	}
	if len(list) != 1 || list[0].Number != pr.Number || list[0].Title != "Upgrade 3 dependencies" || list[0].Body != "new body" || list[0].HeadSHA != sha {
		t.Errorf("PullRequestsFrom(deps) = %+v, want #%d with the new title and body at %s", list, pr.Number, sha)
	}
	if list, err := p.PullRequestsFrom(ctx, "other"); err != nil || len(list) != 0 {
		t.Errorf("PullRequestsFrom(other) = %v, %v; want none", list, err)
	}

	// The head moves after we looked: merging at the old SHA is refused.
	moved := f.Commit(t, "deps", map[string]string{"extra.txt": "extra\n"})
	if _, err := p.MergePullRequest(ctx, pr.Number, sha, ""); err == nil {
		t.Fatalf("MergePullRequest with a stale head SHA succeeded")
	}
	if got := head(t, f, f.DefaultBranch); got != base {
		t.Errorf("refused merge moved %s to %s", f.DefaultBranch, got)
	}
	list, err = p.PullRequestsFrom(ctx, "deps")
	if err != nil || len(list) != 1 || list[0].HeadSHA != moved {
		t.Fatalf("after refused merge PullRequestsFrom = %+v, %v; want it open at %s", list, err, moved)
	}

	merged, err := p.MergePullRequest(ctx, pr.Number, moved, "Squashed.")
	if err != nil {
		t.Fatalf("MergePullRequest: %v", err)
	}
	if got := head(t, f, f.DefaultBranch); got != merged {
		t.Errorf("%s head = %s, want the merge commit %s", f.DefaultBranch, got, merged)
	}
	for path, want := range map[string]string{"go.sum": "sum\n", "extra.txt": "extra\n"} {
		if got := readFile(t, f, f.DefaultBranch, path); got != want {
			t.Errorf("after merge %s = %q, want %q", path, got, want)
		}
	}
	if list, err := p.PullRequestsFrom(ctx, "deps"); err != nil || len(list) != 0 {
		t.Errorf("after merge PullRequestsFrom(deps) = %+v, %v; want none open", list, err)
	}
	if _, err := p.MergePullRequest(ctx, pr.Number, moved, ""); err == nil {
		t.Errorf("merging a merged pull request again succeeded")
	}
	if got := head(t, f, f.DefaultBranch); got != merged {
		t.Errorf("second merge moved %s to %s", f.DefaultBranch, got)
	}
	if _, err := p.MergePullRequest(ctx, 9999, moved, ""); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("MergePullRequest(9999) error = %v, want ErrNotFound", err)
	}
}

func testMergeAfterBaseMoved(t *testing.T, f Fixture) {
	ctx := context.Background()
	p := pulls(t, f)
	sha, err := p.CommitFiles(ctx, "feature", f.DefaultBranch, "Feature", []providers.FileChange{{Path: "feature.txt", Content: []byte("f\n")}})
	if err != nil {
		t.Fatalf("CommitFiles: %v", err)
	}
	pr := openPR(t, f, "feature", "Feature")
	moved := f.Commit(t, f.DefaultBranch, map[string]string{"other.txt": "o\n"})
	merged, err := p.MergePullRequest(ctx, pr.Number, sha, "")
	if err != nil {
		t.Fatalf("MergePullRequest after the base moved: %v", err)
	}
	if merged == moved {
		t.Fatalf("merge returned the base head")
	}
	for path, want := range map[string]string{"feature.txt": "f\n", "other.txt": "o\n"} {
		if got := readFile(t, f, merged, path); got != want {
			t.Errorf("merge commit %s = %q, want %q", path, got, want)
		}
	}
}

func testClosePullRequest(t *testing.T, f Fixture) {
	ctx := context.Background()
	p := pulls(t, f)
	base := head(t, f, f.DefaultBranch)
	sha := f.Commit(t, "abandoned", map[string]string{"a.txt": "a\n"})
	pr := openPR(t, f, "abandoned", "Abandoned")
	if err := p.ClosePullRequest(ctx, pr.Number, "superseded by a newer upgrade"); err != nil {
		t.Fatalf("ClosePullRequest: %v", err)
	}
	if list, err := p.PullRequestsFrom(ctx, "abandoned"); err != nil || len(list) != 0 {
		t.Errorf("after close PullRequestsFrom = %+v, %v; want none open", list, err)
	}
	if _, err := p.MergePullRequest(ctx, pr.Number, sha, ""); err == nil {
		t.Errorf("merging a closed pull request succeeded")
	}
	if got := head(t, f, f.DefaultBranch); got != base {
		t.Errorf("close or refused merge moved %s", f.DefaultBranch)
	}
	if err := p.ClosePullRequest(ctx, 9999, ""); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("ClosePullRequest(9999) error = %v, want ErrNotFound", err)
	}
	// A closed pull request does not block a new one from the same branch.
	again := openPR(t, f, "abandoned", "Again")
	if again.Number == pr.Number {
		t.Errorf("reopened pull request reused number %d", pr.Number)
	}
}

func testStatuses(t *testing.T, f Fixture) {
	ctx := context.Background()
	setter, ok := f.SCM.(providers.StatusSetter)
	if !ok {
		t.Fatalf("%T does not implement providers.StatusSetter", f.SCM)
	}
	p := pulls(t, f)
	sha := f.Commit(t, f.DefaultBranch, map[string]string{"s.txt": "s\n"})
	combined := func() providers.CommitState {
		t.Helper()
		got, err := p.CombinedStatus(ctx, sha)
		if err != nil {
			t.Fatalf("CombinedStatus: %v", err)
		}
		return got
	}
	if got := combined(); got != providers.StatePending {
		t.Errorf("CombinedStatus with no statuses = %q, want pending", got)
	}
	steps := []struct {
		context string
		state   providers.CommitState
		want    providers.CommitState
	}{
		{"mainline/build", providers.StateSuccess, providers.StateSuccess},
		{"ci/test", providers.StatePending, providers.StatePending},
		{"ci/test", providers.StateFailure, providers.StateFailure},
		{"ci/test", providers.StateSuccess, providers.StateSuccess}, // the latest per context counts
		{"ci/lint", providers.StateError, providers.StateFailure},
		{"ci/lint", providers.StateSuccess, providers.StateSuccess},
	}
	for _, s := range steps {
		err := setter.SetCommitStatus(ctx, sha, providers.CommitStatus{State: s.state, Context: s.context, Description: "d", TargetURL: "http://127.0.0.1/x"})
		if err != nil {
			t.Fatalf("SetCommitStatus(%s=%s): %v", s.context, s.state, err)
		}
		if got := combined(); got != s.want {
			t.Errorf("after %s=%s CombinedStatus = %q, want %q", s.context, s.state, got, s.want)
		}
	}
	if got, err := p.CombinedStatus(ctx, f.DefaultBranch); err != nil || got != providers.StateSuccess {
		t.Errorf("CombinedStatus(%s) = %q, %v; want success (a branch names its head)", f.DefaultBranch, got, err)
	}
	other := f.Commit(t, f.DefaultBranch, map[string]string{"t.txt": "t\n"})
	if got, err := p.CombinedStatus(ctx, other); err != nil || got != providers.StatePending {
		t.Errorf("CombinedStatus of a new commit = %q, %v; want pending (statuses belong to one commit)", got, err)
	}
	const missing = "0123456789abcdef0123456789abcdef01234567"
	if err := setter.SetCommitStatus(ctx, missing, providers.CommitStatus{State: providers.StateSuccess, Context: "x"}); err == nil {
		t.Errorf("SetCommitStatus on a missing commit succeeded")
	}
}

func testDeployments(t *testing.T, f Fixture) {
	ctx := context.Background()
	d, ok := f.SCM.(providers.Deployments)
	if !ok {
		t.Fatalf("%T does not implement providers.Deployments", f.SCM)
	}
	id, err := d.CreateDeployment(ctx, f.DefaultBranch, "production", "deploy 0.0.1")
	if err != nil {
		t.Fatalf("CreateDeployment: %v", err)
	}
	id2, err := d.CreateDeployment(ctx, f.DefaultBranch, "canary", "deploy 0.0.1 to canary")
	if err != nil {
		t.Fatalf("second CreateDeployment: %v", err)
	}
	if id <= 0 || id2 <= 0 || id == id2 {
		t.Errorf("deployment ids %d and %d, want two distinct positive ids", id, id2)
	}
	for _, state := range []string{"in_progress", "success"} {
		if err := d.SetDeploymentStatus(ctx, id, state, "http://127.0.0.1:8080", "rolling"); err != nil {
			t.Fatalf("SetDeploymentStatus(%s): %v", state, err)
		}
	}
	if f.Deployment != nil {
		env, state := f.Deployment(t, id)
		if env != "production" || state != "success" {
			t.Errorf("deployment %d recorded as (%q, %q), want (production, success)", id, env, state)
		}
		env, state = f.Deployment(t, id2)
		if env != "canary" || state != "" {
			t.Errorf("deployment %d recorded as (%q, %q), want (canary, no status)", id2, env, state)
		}
	}
	if err := d.SetDeploymentStatus(ctx, 999999, "success", "", ""); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("SetDeploymentStatus(999999) error = %v, want ErrNotFound", err)
	}
	if _, err := d.CreateDeployment(ctx, "no-such-ref", "production", ""); err == nil {
		t.Errorf("CreateDeployment of a missing ref succeeded")
	}
}
