package github_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/github"
	"github.com/mainline-cd/mainline/providers/github/githubtest"
	"github.com/mainline-cd/mainline/providers/scmtest"
)

// newRepo starts a fake with one repository acme/shop whose main branch has
// one commit.
func newRepo(t *testing.T, opts ...github.Option) (*github.Repo, *githubtest.Server, *githubtest.Repo) {
	t.Helper()
	srv := githubtest.New(t)
	fake := srv.AddRepo("acme", "shop", "main")
	fake.Commit("main", "initial", map[string]string{"README.md": "hello\n"})
	return github.New(srv.Client(), "acme", "shop", opts...), srv, fake
}

func TestConformance(t *testing.T) {
	scmtest.Run(t, func(t *testing.T) scmtest.Fixture {
		repo, _, fake := newRepo(t)
		return scmtest.Fixture{
			SCM:           repo,
			DefaultBranch: "main",
			Commit: func(t *testing.T, branch string, files map[string]string) string {
				return fake.Commit(branch, "dev commit", files)
			},
			Deployment: func(t *testing.T, id int64) (string, string) {
				d, ok := fake.Deployment(id)
				if !ok {
					t.Fatalf("the fake has no deployment %d", id)
				}
				state := ""
				if n := len(d.States); n > 0 {
					state = d.States[n-1]
				}
				return d.Environment, state
			},
		}
	})
}

// fakeClock is a Clock whose After fires at once and moves the time on, so
// rate limit waits take no real time and can be added up.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	waited time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waited += d
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) Waited() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waited
}

func TestRateLimitWaitThenSuccess(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		limit    func(*githubtest.Server)
		wantWait time.Duration
	}{
		{"primary", func(s *githubtest.Server) { s.RateLimitNext(2, 90*time.Second) }, 180 * time.Second},
		{"secondary with Retry-After", func(s *githubtest.Server) { s.SecondaryRateLimitNext(1, 60*time.Second) }, 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The fake clock lies well in the past so go-github's own
			// wall-clock bookkeeping never blocks a retry.
			clock := &fakeClock{now: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
			srv := githubtest.New(t, githubtest.WithClock(clock))
			fake := srv.AddRepo("acme", "shop", "main")
			want := fake.Commit("main", "initial", map[string]string{"a": "a"})
			repo := github.New(srv.Client(), "acme", "shop", github.WithClock(clock))

			tt.limit(srv)
			got, err := repo.HeadSHA(ctx, "main")
			if err != nil {
				t.Fatalf("HeadSHA after rate limits: %v", err)
			}
			if got != want {
				t.Errorf("HeadSHA = %s, want %s", got, want)
			}
			if w := clock.Waited(); w != tt.wantWait {
				t.Errorf("waited %v on the clock, want %v", w, tt.wantWait)
			}
			if n := srv.Served("", "", 403); n == 0 {
				t.Errorf("the fake answered no 403; the test did not exercise a limit")
			}
		})
	}
}

func TestRateLimitRetriesWrites(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv := githubtest.New(t, githubtest.WithClock(clock))
	fake := srv.AddRepo("acme", "shop", "main")
	sha := fake.Commit("main", "initial", map[string]string{"a": "a"})
	repo := github.New(srv.Client(), "acme", "shop", github.WithClock(clock))
	srv.SecondaryRateLimitNext(1, 30*time.Second)
	if err := repo.CreateTag(ctx, "0.0.1", sha, "first"); err != nil {
		t.Fatalf("CreateTag after a secondary limit: %v", err)
	}
	tags, err := repo.Tags(ctx)
	if err != nil || len(tags) != 1 || tags[0] != (providers.Tag{Name: "0.0.1", SHA: sha}) {
		t.Errorf("Tags = %v, %v; want [0.0.1 %s] (the retried POST must carry its body)", tags, err, sha)
	}
}

func TestRateLimitGivesUpAfterMaxWait(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv := githubtest.New(t, githubtest.WithClock(clock))
	fake := srv.AddRepo("acme", "shop", "main")
	fake.Commit("main", "initial", map[string]string{"a": "a"})
	repo := github.New(srv.Client(), "acme", "shop", github.WithClock(clock), github.WithMaxWait(time.Minute))

	srv.RateLimitNext(1, time.Hour)
	_, err := repo.HeadSHA(ctx, "main")
	var rle *gh.RateLimitError
	if !errors.As(err, &rle) {
		t.Fatalf("HeadSHA with a reset beyond the max wait: error = %v, want *github.RateLimitError", err)
	}
	if w := clock.Waited(); w != 0 {
		t.Errorf("waited %v before giving up, want no wait at all", w)
	}
}

// stuckClock never lets a wait end; After calls onWait first.
type stuckClock struct{ onWait func() }

func (stuckClock) Now() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }
func (c stuckClock) After(time.Duration) <-chan time.Time {
	c.onWait()
	return make(chan time.Time)
}

func TestRateLimitHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := githubtest.New(t)
	fake := srv.AddRepo("acme", "shop", "main")
	fake.Commit("main", "initial", map[string]string{"a": "a"})
	// The context is cancelled while the request waits out the limit.
	repo := github.New(srv.Client(), "acme", "shop", github.WithClock(stuckClock{onWait: cancel}))
	srv.SecondaryRateLimitNext(1, time.Minute)
	if _, err := repo.HeadSHA(ctx, "main"); !errors.Is(err, context.Canceled) {
		t.Errorf("HeadSHA cancelled during a rate limit wait: error = %v, want context.Canceled", err)
	}
	if n := srv.Served("", "", 403); n != 1 {
		t.Errorf("fake answered %d 403s, want 1", n)
	}
}

func TestConditionalPolling(t *testing.T) {
	ctx := context.Background()
	repo, srv, fake := newRepo(t)
	const refPath = "/repos/acme/shop/git/ref/heads/main"
	first := fake.Head("main")

	for range 3 {
		got, err := repo.HeadSHA(ctx, "main")
		if err != nil || got != first {
			t.Fatalf("HeadSHA = %s, %v; want %s", got, err, first)
		}
	}
	if got200, got304 := srv.Served("GET", refPath, 200), srv.Served("GET", refPath, 304); got200 != 1 || got304 != 2 {
		t.Errorf("three polls of an unchanged head: %d answers 200 and %d answers 304, want 1 and 2", got200, got304)
	}

	second := fake.Commit("main", "next", map[string]string{"b": "b"})
	got, err := repo.HeadSHA(ctx, "main")
	if err != nil || got != second {
		t.Fatalf("HeadSHA after a push = %s, %v; want %s", got, err, second)
	}
	if got200 := srv.Served("GET", refPath, 200); got200 != 2 {
		t.Errorf("after the head moved the fake answered 200 %d times, want 2", got200)
	}

	// CombinedStatus polls two resources, both conditionally.
	for range 2 {
		if _, err := repo.CombinedStatus(ctx, second); err != nil {
			t.Fatal(err)
		}
	}
	statusPath := "/repos/acme/shop/commits/" + second + "/status"
	checksPath := "/repos/acme/shop/commits/" + second + "/check-runs"
	for _, p := range []string{statusPath, checksPath} {
		if got := srv.Served("GET", p, 304); got != 1 {
			t.Errorf("second poll of %s: %d answers 304, want 1", p, got)
		}
	}
}

func TestCombinedStatusWithCheckRuns(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		statuses []providers.CommitState
		checks   [][2]string // status, conclusion
		want     providers.CommitState
	}{
		{"nothing", nil, nil, providers.StatePending},
		{"checks only, green", nil, [][2]string{{"completed", "success"}, {"completed", "skipped"}}, providers.StateSuccess},
		{"check running", []providers.CommitState{providers.StateSuccess}, [][2]string{{"in_progress", ""}}, providers.StatePending},
		{"check failed", []providers.CommitState{providers.StateSuccess}, [][2]string{{"completed", "failure"}}, providers.StateFailure},
		{"check timed out", nil, [][2]string{{"completed", "timed_out"}}, providers.StateFailure},
		{"status failed, checks green", []providers.CommitState{providers.StateFailure}, [][2]string{{"completed", "success"}}, providers.StateFailure},
		{"status pending, checks green", []providers.CommitState{providers.StatePending}, [][2]string{{"completed", "success"}}, providers.StatePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, _, fake := newRepo(t)
			sha := fake.Head("main")
			for i, s := range tt.statuses {
				if err := repo.SetCommitStatus(ctx, sha, providers.CommitStatus{State: s, Context: "ctx" + string(rune('a'+i))}); err != nil {
					t.Fatal(err)
				}
			}
			for i, c := range tt.checks {
				fake.AddCheckRun(sha, "check"+string(rune('a'+i)), c[0], c[1])
			}
			got, err := repo.CombinedStatus(ctx, "main")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("CombinedStatus = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	ctx := context.Background()
	repo, srv, fake := newRepo(t)
	sha := fake.Head("main")
	if err := repo.CreateTag(ctx, "1.0.0", sha, "m"); err != nil {
		t.Fatal(err)
	}
	err := repo.CreateTag(ctx, "1.0.0", sha, "m")
	var er *gh.ErrorResponse
	if !errors.Is(err, providers.ErrExists) || !errors.As(err, &er) || er.Response.StatusCode != 422 || er.Message != "Reference already exists" {
		t.Errorf("second CreateTag error = %v, want ErrExists wrapping GitHub's 422 Reference already exists", err)
	}
	if n := srv.Served("POST", "/repos/acme/shop/git/refs", 422); n != 1 {
		t.Errorf("fake answered %d 422s to POST git/refs, want 1", n)
	}
	if _, err := repo.ReadFile(ctx, "main", "nope"); !errors.Is(err, providers.ErrNotFound) || !errors.As(err, &er) || er.Response.StatusCode != 404 {
		t.Errorf("ReadFile of a missing file: error = %v, want ErrNotFound wrapping a 404", err)
	}
	other := github.New(srv.Client(), "acme", "no-such-repo")
	if _, err := other.DefaultBranch(ctx); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("DefaultBranch of a missing repository: error = %v, want ErrNotFound", err)
	}
	srv.FailNext(1, 502)
	if _, err := repo.Tags(ctx); err == nil || errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Tags on a 502: error = %v, want a plain error", err)
	}
}

func TestReadLargeFile(t *testing.T) {
	ctx := context.Background()
	repo, _, fake := newRepo(t)
	big := make([]byte, 1<<20+10)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	fake.Commit("main", "big", map[string]string{"big.txt": string(big)})
	got, err := repo.ReadFile(ctx, "main", "big.txt")
	if err != nil {
		t.Fatalf("ReadFile of a file over 1 MB: %v", err)
	}
	if string(got) != string(big) {
		t.Errorf("ReadFile returned %d bytes, want the %d written", len(got), len(big))
	}
}

func TestNewFromToken(t *testing.T) {
	ctx := context.Background()
	const token = "ghp_secret-token-value"
	srv := githubtest.New(t, githubtest.WithToken(token))
	fake := srv.AddRepo("acme", "shop", "trunk")
	fake.Commit("trunk", "initial", map[string]string{"a": "a"})

	repo, err := github.NewFromToken(token, srv.URL, "acme", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := repo.DefaultBranch(ctx); err != nil || got != "trunk" {
		t.Errorf("DefaultBranch with the right token = %q, %v; want trunk", got, err)
	}
	bad, err := github.NewFromToken("wrong", srv.URL, "acme", "shop")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.DefaultBranch(ctx)
	if err == nil {
		t.Fatalf("DefaultBranch with a wrong token succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, token) || strings.Contains(msg, "wrong") {
		t.Errorf("error %q shows a token", msg)
	}
}
