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
// builds with 100,000 events in SQLite, through the server's handler:
// store reads, status of all 3,000 rows, sorting, and the template for
// the first page (200 rows, as the overview really renders). It reports
// the server time per render at the 50th and 99th percentile twice:
// p50-ms/p99-ms for renders that each follow a state change (an event
// written before the timer starts, so the server must read the store
// again), and warm-p50-ms/warm-p99-ms for renders with nothing changed
// in between (several open dashboards), which share one read.
func BenchmarkOverview(b *testing.B) {
	ctx := context.Background()
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
	change := func(i int) {
		if _, err := st.AddEvent(ctx, store.Event{ProjectID: int64(i%benchProjects + 1), Kind: "head", Message: "bench change", At: now}); err != nil {
			b.Fatal(err)
		}
	}
	render() // parse templates, warm the connection pool
	cold := make([]time.Duration, 0, b.N)
	warm := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		b.StopTimer()
		change(i)
		i++
		b.StartTimer()
		cold = append(cold, render())
		warm = append(warm, render())
	}
	pct := func(times []time.Duration, p float64) float64 {
		slices.Sort(times)
		return float64(times[min(len(times)-1, int(p*float64(len(times))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(cold, 0.50), "p50-ms")
	b.ReportMetric(pct(cold, 0.99), "p99-ms")
	b.ReportMetric(pct(warm, 0.50), "warm-p50-ms")
	b.ReportMetric(pct(warm, 0.99), "warm-p99-ms")
}
