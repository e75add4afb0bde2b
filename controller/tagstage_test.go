package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

// racingSCM creates the tag it is asked to create itself, on sha, just
// before passing the call on: another writer that got there first.
type racingSCM struct {
	providers.SCM
	sha   func() string
	raced bool
}

func (r *racingSCM) CreateTag(ctx context.Context, name, sha, msg string) error {
	if !r.raced {
		r.raced = true
		if err := r.SCM.CreateTag(ctx, name, r.sha(), "the other writer"); err != nil {
			return err
		}
	}
	return r.SCM.CreateTag(ctx, name, sha, msg)
}

func TestTagStage(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares the repository and returns the tag the head
		// should end up with.
		setup func(r *gitRepo) string
		// race, when set, makes another writer take the next tag name on
		// the commit it returns.
		race func(r *gitRepo) string
		want func(r *gitRepo) []string
	}{{
		name:  "first tag is 0.0.1",
		setup: func(r *gitRepo) string { return "0.0.1" },
		want:  func(r *gitRepo) []string { return []string{"0.0.1 " + r.head()} },
	}, {
		name: "next patch, keeping the v prefix",
		setup: func(r *gitRepo) string {
			r.git(r.Clone, "tag", "v1.4.9")
			r.git(r.Clone, "push", "-q", "origin", "v1.4.9")
			r.Commit("change", nil)
			return "v1.4.10"
		},
	}, {
		name: "a head with a version tag keeps it",
		setup: func(r *gitRepo) string {
			r.git(r.Clone, "tag", "-a", "-m", "by hand", "0.3.7")
			r.git(r.Clone, "push", "-q", "origin", "0.3.7")
			return "0.3.7"
		},
	}, {
		name: "other tags are not versions",
		setup: func(r *gitRepo) string {
			r.git(r.Clone, "tag", "release-candidate")
			r.git(r.Clone, "tag", "1.0.0-rc1")
			r.git(r.Clone, "push", "-q", "origin", "--tags")
			return "0.0.1"
		},
	}, {
		name:  "another writer tagged the same commit first: reused",
		setup: func(r *gitRepo) string { return "0.0.1" },
		race:  func(r *gitRepo) string { return r.head() },
		want:  func(r *gitRepo) []string { return []string{"0.0.1 " + r.head()} },
	}, {
		name: "another writer took the name for another commit: next number",
		setup: func(r *gitRepo) string {
			r.Commit("second", nil)
			return "0.0.2"
		},
		race: func(r *gitRepo) string { return r.git(r.Clone, "rev-parse", "HEAD~1") },
		want: func(r *gitRepo) []string {
			return []string{"0.0.1 " + r.git(r.Clone, "rev-parse", "HEAD~1"), "0.0.2 " + r.head()}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.SQLite(t)
			repo := newGitRepo(t, "main", map[string]string{".mainline.yaml": minimalConfig})
			wantTag := tt.setup(repo)
			p := addProject(t, st, "p", repo.Bare)
			c := newController(t, st, time.Hour)
			if tt.race != nil {
				c.Providers.SCM = func(context.Context, store.Project) (providers.SCM, error) {
					g, err := gitlocal.Open(repo.Bare)
					return &racingSCM{SCM: g, sha: func() string { return tt.race(repo) }}, err
				}
			}
			// Twice: the second run must change nothing.
			for range 2 {
				if _, err := c.Reconcile(ctx, p.ID); !controller.IsStalled(err) {
					t.Fatalf("Reconcile = %v, want it to stall at the build stage (no builder)", err)
				}
			}
			tags := repo.Tags()
			onHead := 0
			for _, tag := range tags {
				var name, sha string
				fmt.Sscan(tag, &name, &sha)
				if sha == repo.head() {
					onHead++
					if name != wantTag {
						t.Errorf("head tagged %s, want %s", name, wantTag)
					}
				}
			}
			if onHead != 1 && wantTag != "0.3.7" {
				t.Errorf("head has %d version tags, want 1: %q", onHead, tags)
			}
			if tt.want != nil {
				if got, want := fmt.Sprint(tags), fmt.Sprint(tt.want(repo)); got != want {
					t.Errorf("tags = %s, want %s", got, want)
				}
			}
			recorded, err := st.Tags(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(recorded) != 1 || recorded[0].Name != wantTag || recorded[0].SHA != repo.head() {
				t.Errorf("store tags = %+v, want one %s on %s", recorded, wantTag, repo.head())
			}
		})
	}
}

func (r *gitRepo) head() string { return r.git(r.Clone, "rev-parse", "HEAD") }
