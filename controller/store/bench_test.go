package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
)

const (
	seedEvents   = 100_000
	seedProjects = 10
)

var seedKinds = []string{"tagged", "built", "desired_changed", "scaled", "verified"}

// seed inserts seedEvents events straight into the database behind url,
// many rows per statement in one transaction, so that even -benchtime 1x
// runs stay short.
func seed(b *testing.B, url string) {
	b.Helper()
	ctx := context.Background()
	db := rawDB(b, url)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	const rowsPerInsert = 500
	var (
		sb   strings.Builder
		args []any
	)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < seedEvents; i += rowsPerInsert {
		sb.Reset()
		args = args[:0]
		sb.WriteString("INSERT INTO events (project_id, kind, message, happened_at) VALUES ")
		for j := i; j < i+rowsPerInsert; j++ {
			if j > i {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4)
			args = append(args, int64(j%seedProjects+1), seedKinds[j%len(seedKinds)],
				fmt.Sprintf("seeded event %d", j), start.Add(time.Duration(j)*time.Second))
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEvents measures listing a page of 50 events and appending an
// event, with 100,000 events in the store. Seeding happens once per backend,
// not per b.N.
func BenchmarkEvents(b *testing.B) {
	backends := []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", storetest.SQLiteURL},
		{"postgres", storetest.PostgresURL},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			url := be.url(b)
			s, err := store.Open(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			seed(b, url)

			first, err := s.Events(context.Background(), store.EventQuery{Limit: 1})
			if err != nil || len(first) != 1 {
				b.Fatalf("Events: %v, %d events", err, len(first))
			}
			newest := first[0].ID
			deep := newest - seedEvents*9/10 // 90,000 events down

			pages := []struct {
				name string
				q    store.EventQuery
			}{
				{"first-page", store.EventQuery{Limit: 50}},
				{"deep-page", store.EventQuery{Limit: 50, BeforeID: deep}},
				{"project-first-page", store.EventQuery{ProjectID: 3, Limit: 50}},
				{"project-deep-page", store.EventQuery{ProjectID: 3, Limit: 50, BeforeID: deep}},
				{"kind-deep-page", store.EventQuery{Kind: "scaled", Limit: 50, BeforeID: deep}},
			}
			for _, p := range pages {
				b.Run(p.name, func(b *testing.B) {
					ctx := context.Background()
					for b.Loop() {
						evs, err := s.Events(ctx, p.q)
						if err != nil {
							b.Fatal(err)
						}
						if len(evs) != 50 {
							b.Fatalf("Events(%+v): %d events, want 50", p.q, len(evs))
						}
					}
				})
			}
			b.Run("AddEvent", func(b *testing.B) {
				ctx := context.Background()
				e := store.Event{ProjectID: 3, Kind: "bench", Message: "benchmark event", At: time.Now()}
				for b.Loop() {
					if _, err := s.AddEvent(ctx, e); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
			})
			b.Run("AddEventParallel", func(b *testing.B) {
				e := store.Event{ProjectID: 4, Kind: "bench", Message: "benchmark event", At: time.Now()}
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						if _, err := s.AddEvent(ctx, e); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
			})
		})
	}
}
