package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
)

// TestSnapshot checks that a Snapshot says what the per-project methods
// say, on both backends: desired states with and without a last state, a
// last state whose build has no desired state, versions that need the
// full JSON decoder, the newest verification run, rejections and open
// pull requests only.
func TestSnapshot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		at := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
		mk := func(name string) store.Project {
			p, err := s.CreateProject(ctx, store.Project{Name: name, SCM: "git", Location: "/src/" + name})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		a, b, c := mk("b-api"), mk("a-shop"), mk("c-empty")
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []store.Desired{
			{ProjectID: a.ID, Build: "api", Version: "1.2.3", Instances: 2, SetAt: at, SetBy: "tag 1.2.3"},
			{ProjectID: a.ID, Build: "worker", Version: "1.2.3", Instances: 1, SetAt: at, SetBy: "tag 1.2.3"},
			{ProjectID: b.ID, Build: "www", Version: "0.1.0", Instances: 3, SetAt: at.Add(time.Minute), SetBy: "user:alice"},
		} {
			_, err := s.SetDesired(ctx, d)
			must(err)
		}
		for _, l := range []store.Last{
			{ProjectID: a.ID, Build: "api", Versions: map[string]int{"1.2.3": 1, "1.2.2": 1}, ObservedAt: at},
			// No last state for a's worker yet.
			{ProjectID: b.ID, Build: "www", Versions: map[string]int{"0.1.0-rc.1+\"quoted\"": 2, "ünïcode": 1}, ObservedAt: at},
			{ProjectID: b.ID, Build: "gone", Versions: map[string]int{}, ObservedAt: at}, // no desired state
		} {
			must(s.SetLast(ctx, l))
		}
		_, err := s.AddVerifyRun(ctx, store.VerifyRun{ProjectID: a.ID, Version: "1.2.2", Trigger: "rollout", Status: "passed", Report: []byte(`{}`), StartedAt: at, FinishedAt: at})
		must(err)
		newest, err := s.AddVerifyRun(ctx, store.VerifyRun{ProjectID: a.ID, Version: "1.2.3", Trigger: "rollout", Status: "running", StartedAt: at.Add(time.Hour)})
		must(err)
		must(s.Reject(ctx, store.Rejection{ProjectID: b.ID, Version: "0.0.9", Reason: "verification failed", At: at}))
		must(s.PutDependencyPR(ctx, store.DependencyPR{ProjectID: a.ID, Number: 7, Branch: "mainline/deps", Title: "bump", State: "open", Checks: "pending", URL: "https://example.invalid/7", UpdatedAt: at}))
		must(s.PutDependencyPR(ctx, store.DependencyPR{ProjectID: a.ID, Number: 6, Branch: "mainline/old", Title: "old", State: "closed", Checks: "failure", URL: "https://example.invalid/6", UpdatedAt: at}))

		snap, err := s.(store.Snapshotter).Snapshot(ctx)
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}

		projects, err := s.Projects(ctx)
		must(err)
		if !reflect.DeepEqual(snap.Projects, projects) {
			t.Errorf("Projects = %+v, want %+v", snap.Projects, projects)
		}
		var desired []store.Desired
		var last []store.Last
		for _, p := range []store.Project{a, b, c} { // in ID order
			ds, err := s.DesiredStates(ctx, p.ID)
			must(err)
			desired = append(desired, ds...)
		}
		for _, k := range []struct {
			id    int64
			build string
		}{{a.ID, "api"}, {b.ID, "gone"}, {b.ID, "www"}} {
			l, err := s.Last(ctx, k.id, k.build)
			must(err)
			last = append(last, l)
		}
		if !reflect.DeepEqual(snap.Desired, desired) {
			t.Errorf("Desired = %+v, want %+v", snap.Desired, desired)
		}
		if !reflect.DeepEqual(snap.Last, last) {
			t.Errorf("Last = %+v, want %+v", snap.Last, last)
		}
		if len(snap.LatestRuns) != 1 || snap.LatestRuns[0].ID != newest.ID || snap.LatestRuns[0].Status != "running" {
			t.Errorf("LatestRuns = %+v, want only run %d (running)", snap.LatestRuns, newest.ID)
		}
		if len(snap.Rejections) != 1 || snap.Rejections[0].Version != "0.0.9" || snap.Rejections[0].ProjectID != b.ID {
			t.Errorf("Rejections = %+v, want 0.0.9 of %s", snap.Rejections, b.Name)
		}
		if len(snap.OpenPRs) != 1 || snap.OpenPRs[0].Number != 7 {
			t.Errorf("OpenPRs = %+v, want only #7", snap.OpenPRs)
		}
	})
}
