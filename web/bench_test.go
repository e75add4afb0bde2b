package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/web"
)

const (
	benchProjects = 1000
	benchEvents   = 100_000
)

var benchBuilds = []string{"api", "worker", "www"}

// seedBench fills st with benchProjects projects of three builds each, a
// verification run and a tag per project, and benchEvents events, in one
// transaction.
func seedBench(b *testing.B, st store.Store) {
	b.Helper()
	ctx := context.Background()
	at := now.Add(-24 * time.Hour)
	err := st.InTx(ctx, func(tx store.Store) error {
		for i := range benchProjects {
			p, err := tx.CreateProject(ctx, store.Project{Name: fmt.Sprintf("org-%d/service-%d", i%37, i), SCM: "github", Location: fmt.Sprintf("org/svc-%d", i)})
			if err != nil {
				return err
			}
			v := fmt.Sprintf("1.%d.%d", i%7, i%13)
			if err := tx.AddTag(ctx, store.Tag{ProjectID: p.ID, Name: v, SHA: fmt.Sprintf("%040d", i), CreatedAt: at}); err != nil {
				return err
			}
			for j, name := range benchBuilds {
				if _, err := tx.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: name, Version: v, Instances: 2, SetAt: at, SetBy: "tag " + v}); err != nil {
					return err
				}
				healthy := map[string]int{v: 2}
				if (i+j)%10 == 0 { // every tenth build is rolling
					healthy = map[string]int{v: 1, "1.0.0": 1}
				}
				if err := tx.SetLast(ctx, store.Last{ProjectID: p.ID, Build: name, Versions: healthy, ObservedAt: at}); err != nil {
					return err
				}
			}
			status := "passed"
			if i%20 == 0 {
				status = "failed"
			}
			if _, err := tx.AddVerifyRun(ctx, store.VerifyRun{ProjectID: p.ID, Version: v, Trigger: "rollout", Status: status,
				Summary: "2 steps passed", Report: passingReport(b, v), StartedAt: at, FinishedAt: at.Add(time.Second)}); err != nil {
				return err
			}
		}
		kinds := []string{"head", "tagged", "build_started", "build_succeeded", "desired_changed", "verified"}
		for i := range benchEvents {
			if _, err := tx.AddEvent(ctx, store.Event{ProjectID: int64(i%benchProjects + 1), Kind: kinds[i%len(kinds)],
				Message: fmt.Sprintf("seeded event %d", i), At: at.Add(time.Duration(i) * time.Second)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
}

// BenchmarkOverview renders the overview page of 1,000 projects × 3
// builds with 100,000 events in SQLite, and reports the server time per
// render at the 50th and 99th percentile.
func BenchmarkOverview(b *testing.B) {
	st := storetest.SQLite(b)
	seedBench(b, st)
	srv := &web.Server{Store: st, Controller: &fakeController{status: map[int64]controller.ProjectStatus{}}, Clock: fixedClock{now}, PublicRead: true}
	b.Cleanup(srv.Close)
	render := func() time.Duration {
		rec := httptest.NewRecorder()
		start := time.Now()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		d := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		return d
	}
	render() // parse templates, warm the connection pool
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		times = append(times, render())
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 {
		return float64(times[min(len(times)-1, int(p*float64(len(times))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
