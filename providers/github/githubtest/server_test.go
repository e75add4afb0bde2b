package githubtest_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/providers/github/githubtest"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func status(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

func TestNotFoundShape(t *testing.T) {
	srv := githubtest.New(t)
	resp, err := srv.HTTPClient().Get(srv.BaseURL() + "repos/acme/none")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"message":"Not Found"`) {
		t.Errorf("GET a missing repository = %d %s, want 404 {\"message\":\"Not Found\"}", resp.StatusCode, body)
	}
}

func TestRefsAndTags(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	repo := srv.AddRepo("acme", "shop", "main")
	sha := repo.Commit("main", "initial", map[string]string{"a": "a"})
	c := srv.Client()

	tag, _, err := c.Git.CreateTag(ctx, "acme", "shop", &github.Tag{Tag: github.String("v1"), Message: github.String("m"), Object: &github.GitObject{SHA: &sha, Type: github.String("commit")}})
	if err != nil {
		t.Fatal(err)
	}
	ref := &github.Reference{Ref: github.String("refs/tags/v1"), Object: &github.GitObject{SHA: tag.SHA}}
	if _, resp, err := c.Git.CreateRef(ctx, "acme", "shop", ref); err != nil || resp.StatusCode != 201 {
		t.Fatalf("CreateRef = %v, %v; want 201", resp, err)
	}
	_, _, err = c.Git.CreateRef(ctx, "acme", "shop", ref)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 422 || er.Message != "Reference already exists" {
		t.Errorf("second CreateRef error = %v, want 422 Reference already exists", err)
	}
	got, _, err := c.Git.GetRef(ctx, "acme", "shop", "tags/v1")
	if err != nil || got.GetObject().GetType() != "tag" || got.GetObject().GetSHA() != tag.GetSHA() {
		t.Errorf("GetRef(tags/v1) = %+v, %v; want the tag object", got, err)
	}
	tags, _, err := c.Repositories.ListTags(ctx, "acme", "shop", nil)
	if err != nil || len(tags) != 1 || tags[0].GetCommit().GetSHA() != sha {
		t.Errorf("ListTags = %v, %v; want v1 peeled to %s", tags, err, sha)
	}
	// Non-fast-forward updates need force.
	other := repo.Commit("side", "side", map[string]string{"b": "b"})
	repo.Commit("main", "ahead", map[string]string{"c": "c"})
	_, _, err = c.Git.UpdateRef(ctx, "acme", "shop", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: &other}}, false)
	if status(err) != 422 {
		t.Errorf("non-fast-forward UpdateRef error = %v, want 422", err)
	}
	if _, _, err := c.Git.UpdateRef(ctx, "acme", "shop", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: &other}}, true); err != nil {
		t.Errorf("forced UpdateRef: %v", err)
	}
}

func TestPagination(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	repo := srv.AddRepo("acme", "shop", "main")
	sha := repo.Commit("main", "initial", map[string]string{"a": "a"})
	c := srv.Client()
	for i := range 150 {
		if _, _, err := c.Git.CreateRef(ctx, "acme", "shop", &github.Reference{Ref: github.String(fmt.Sprintf("refs/tags/t%03d", i)), Object: &github.GitObject{SHA: &sha}}); err != nil {
			t.Fatal(err)
		}
	}
	opts := &github.ListOptions{PerPage: 100}
	var sizes []int
	for {
		page, resp, err := c.Repositories.ListTags(ctx, "acme", "shop", opts)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page))
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if fmt.Sprint(sizes) != "[100 50]" {
		t.Errorf("page sizes = %v, want [100 50]", sizes)
	}
}

func TestConditionalGet(t *testing.T) {
	srv := githubtest.New(t)
	repo := srv.AddRepo("acme", "shop", "main")
	repo.Commit("main", "initial", map[string]string{"a": "a"})
	get := func(etag string) *http.Response {
		req, _ := http.NewRequest("GET", srv.BaseURL()+"repos/acme/shop/git/ref/heads/main", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := srv.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	first := get("")
	etag := first.Header.Get("ETag")
	if first.StatusCode != 200 || etag == "" {
		t.Fatalf("first GET = %d with ETag %q, want 200 with an ETag", first.StatusCode, etag)
	}
	if got := get(etag).StatusCode; got != 304 {
		t.Errorf("GET with a matching If-None-Match = %d, want 304", got)
	}
	repo.Commit("main", "next", map[string]string{"b": "b"})
	if got := get(etag).StatusCode; got != 200 {
		t.Errorf("GET after a change = %d, want 200", got)
	}
}

func TestPullRequestMergeRules(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	repo := srv.AddRepo("acme", "shop", "main")
	repo.Commit("main", "initial", map[string]string{"a": "a"})
	head := repo.Commit("feature", "feature", map[string]string{"f": "f"})
	c := srv.Client()
	pr, _, err := c.PullRequests.Create(ctx, "acme", "shop", &github.NewPullRequest{Title: github.String("Feature"), Head: github.String("feature"), Base: github.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.PullRequests.Create(ctx, "acme", "shop", &github.NewPullRequest{Title: github.String("Again"), Head: github.String("acme:feature"), Base: github.String("main")})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 422 || len(er.Errors) != 1 || !strings.Contains(er.Errors[0].Message, "A pull request already exists") {
		t.Errorf("duplicate pull request error = %v, want 422 with 'A pull request already exists'", err)
	}
	if _, _, err := c.PullRequests.Merge(ctx, "acme", "shop", pr.GetNumber(), "", &github.PullRequestOptions{SHA: "0000000000000000000000000000000000000000"}); status(err) != 409 {
		t.Errorf("merge with a stale sha: error = %v, want 409", err)
	}
	res, _, err := c.PullRequests.Merge(ctx, "acme", "shop", pr.GetNumber(), "", &github.PullRequestOptions{SHA: head, MergeMethod: "squash"})
	if err != nil || !res.GetMerged() {
		t.Fatalf("merge = %+v, %v", res, err)
	}
	if got, ok := repo.File("main", "f"); !ok || got != "f" {
		t.Errorf("after squash merge main has f = %q, %v", got, ok)
	}
	if _, _, err := c.PullRequests.Merge(ctx, "acme", "shop", pr.GetNumber(), "", nil); status(err) != 405 {
		t.Errorf("merging a merged pull request: error = %v, want 405", err)
	}
	merged, _, err := c.PullRequests.IsMerged(ctx, "acme", "shop", pr.GetNumber())
	if err != nil || !merged {
		t.Errorf("IsMerged = %v, %v; want true", merged, err)
	}
}

func TestDeploymentRequiredContexts(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	repo := srv.AddRepo("acme", "shop", "main")
	sha := repo.Commit("main", "initial", map[string]string{"a": "a"})
	c := srv.Client()
	if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "shop", sha, &github.RepoStatus{State: github.String("failure"), Context: github.String("ci")}); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Repositories.CreateDeployment(ctx, "acme", "shop", &github.DeploymentRequest{Ref: github.String("main")})
	if status(err) != 409 {
		t.Errorf("deployment with a red required context: error = %v, want 409", err)
	}
	d, _, err := c.Repositories.CreateDeployment(ctx, "acme", "shop", &github.DeploymentRequest{Ref: github.String("main"), RequiredContexts: &[]string{}})
	if err != nil || d.GetSHA() != sha || d.GetEnvironment() != "production" {
		t.Errorf("deployment with no required contexts = %+v, %v", d, err)
	}
}

func TestArchive(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	repo := srv.AddRepo("acme", "shop", "main")
	sha := repo.Commit("main", "initial", map[string]string{"dir/a.txt": "a"})
	link, _, err := srv.Client().Repositories.GetArchiveLink(ctx, "acme", "shop", github.Tarball, &github.RepositoryContentGetOptions{Ref: "main"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.HTTPClient().Get(link.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	gz, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			if h.PAXRecords["comment"] != sha {
				t.Errorf("pax comment = %q, want the commit %s", h.PAXRecords["comment"], sha)
			}
			continue
		}
		names = append(names, h.Name)
	}
	top := "acme-shop-" + sha[:7] + "/"
	want := []string{top, top + "dir/", top + "dir/a.txt"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("tarball entries = %v, want %v", names, want)
	}
}

func TestRateLimitFaults(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := githubtest.New(t, githubtest.WithClock(fixedClock{now}))
	srv.AddRepo("acme", "shop", "main")

	srv.RateLimitNext(1, time.Minute)
	_, _, err := srv.Client().Repositories.Get(ctx, "acme", "shop")
	var rle *github.RateLimitError
	if !errors.As(err, &rle) || !rle.Rate.Reset.Time.Equal(now.Add(time.Minute)) {
		t.Errorf("primary limit: error = %v, want *RateLimitError resetting at %v", err, now.Add(time.Minute))
	}

	srv.SecondaryRateLimitNext(1, 30*time.Second)
	_, _, err = srv.Client().Repositories.Get(ctx, "acme", "shop")
	var are *github.AbuseRateLimitError
	if !errors.As(err, &are) || are.RetryAfter == nil || *are.RetryAfter != 30*time.Second {
		t.Errorf("secondary limit: error = %v, want *AbuseRateLimitError with Retry-After 30s", err)
	}

	if _, _, err := srv.Client().Repositories.Get(ctx, "acme", "shop"); err != nil {
		t.Errorf("after the faults: %v", err)
	}
}

func TestToken(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t, githubtest.WithToken("s3cret"))
	srv.AddRepo("acme", "shop", "main")
	if _, _, err := srv.Client().Repositories.Get(ctx, "acme", "shop"); status(err) != 401 {
		t.Errorf("no token: error = %v, want 401", err)
	}
	if _, _, err := srv.Client().WithAuthToken("s3cret").Repositories.Get(ctx, "acme", "shop"); err != nil {
		t.Errorf("right token: %v", err)
	}
}

// recordingTB captures the errors the fake reports.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestUnmodelledFailsTheTest(t *testing.T) {
	rec := &recordingTB{TB: t}
	srv := githubtest.New(rec)
	srv.AddRepo("acme", "shop", "main")
	_, _, err := srv.Client().Repositories.ListCollaborators(context.Background(), "acme", "shop", nil)
	if status(err) != 501 {
		t.Errorf("unmodelled request: error = %v, want 501", err)
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "GET /repos/acme/shop/collaborators") {
		t.Errorf("errors reported to the test = %q, want one naming GET /repos/acme/shop/collaborators", rec.errs)
	}
}
