package dependents_test

import (
	"context"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/controller/dependents/proxytest"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
)

func TestScheduler(t *testing.T) {
	ctx := context.Background()
	px := proxytest.New(t)
	berlin := newLocalRepo(t, px, map[string]string{
		".mainline.yaml": "dependencies: { schedule: \"0 9 * * 1-5\", timezone: Europe/Berlin }\n",
	}, false)
	plain := newLocalRepo(t, px, map[string]string{".mainline.yaml": "builds: []\n"}, false)
	st := storetest.SQLite(t)
	if _, err := st.CreateProject(ctx, store.Project{Name: "berlin", SCM: "git", Location: berlin.bare}); err != nil {
		t.Fatal(err)
	}
	plainP, err := st.CreateProject(ctx, store.Project{Name: "plain", SCM: "git", Location: plain.bare})
	if err != nil {
		t.Fatal(err)
	}
	var refs refUpdates
	s := &dependents.Scheduler{Day: &dependents.Day{Store: st, SCM: refs.opener(t)}, Window: time.Hour}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	check := func(j dependents.ScheduledJob, loc *time.Location, hour, minute int, weekdays bool) {
		t.Helper()
		next := j.NextRun.In(loc)
		if next.Hour() != hour || next.Minute() != minute || !next.After(time.Now()) {
			t.Errorf("%s: next run %s, want a future %02d:%02d in %s", j.Project, next, hour, minute, loc)
		}
		if weekdays && (next.Weekday() == time.Saturday || next.Weekday() == time.Sunday) {
			t.Errorf("%s: next run on a %s", j.Project, next.Weekday())
		}
		if j.Offset < 0 || j.Offset >= time.Hour {
			t.Errorf("%s: offset %s outside the window", j.Project, j.Offset)
		}
	}
	jobs := s.Jobs()
	if len(jobs) != 2 || jobs[0].Project != "berlin" || jobs[1].Project != "plain" {
		t.Fatalf("jobs = %+v, want berlin and plain", jobs)
	}
	check(jobs[0], loc, 9, 0, true)
	check(jobs[1], time.UTC, 9, 0, true) // the default schedule, in UTC
	if jobs[0].Offset == jobs[1].Offset {
		t.Errorf("both projects start at offset %s; want them spread", jobs[0].Offset)
	}

	// A new schedule is registered again; a paused project loses its job.
	berlin.commit(t, "earlier", map[string]string{
		".mainline.yaml": "dependencies: { schedule: \"30 6 * * *\", timezone: Europe/Berlin }\n",
	})
	plainP.Paused = true
	if err := st.UpdateProject(ctx, plainP); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	jobs = s.Jobs()
	if len(jobs) != 1 || jobs[0].Project != "berlin" || jobs[0].Schedule != "30 6 * * *" {
		t.Fatalf("jobs after the change = %+v, want berlin at 30 6 * * *", jobs)
	}
	check(jobs[0], loc, 6, 30, false)
}
