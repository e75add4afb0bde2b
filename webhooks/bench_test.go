package webhooks_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/webhooks"
)

// latencies collects per-operation durations and reports percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// report adds p50-ms and p99-ms to b's results.
func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	at := func(p float64) float64 {
		i := min(len(l.d)-1, int(p*float64(len(l.d))))
		return float64(l.d[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkIngest compares a signed push (the real branch-push fixture, so
// the full path: verify, parse, store, wake, mark processed) through the
// Handler with the bare store insert of the same delivery, per backend, in
// one run. handler's ratio-vs-bare is the receiver's cost over the insert.
func BenchmarkIngest(b *testing.B) {
	push := readFixture(b, branchPush)
	backends := []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", storetest.SQLite},
		{"postgres", storetest.Postgres},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			var seq atomic.Int64 // delivery ids stay unique across b.N rounds
			var bareNs float64
			b.Run("bare-insert", func(b *testing.B) {
				st := be.open(b)
				ctx := context.Background()
				var lat latencies
				b.SetBytes(int64(len(push)))
				b.ResetTimer()
				for b.Loop() {
					start := time.Now()
					isNew, err := st.AddDelivery(ctx, store.Delivery{
						ID: fmt.Sprintf("bench-%d", seq.Add(1)), Event: "push", Repo: helloWorld,
						Payload: push, ReceivedAt: time.Now(),
					})
					lat.add(time.Since(start))
					if err != nil || !isNew {
						b.Fatalf("AddDelivery = %v, %v", isNew, err)
					}
				}
				bareNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				lat.report(b)
			})
			b.Run("handler", func(b *testing.B) {
				st := be.open(b)
				h := &webhooks.Handler{
					Secrets: [][]byte{oldSecret, newSecret},
					Store:   st,
					Waker:   &countingWaker{},
					Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
				}
				sig := sign(newSecret, push)
				var lat latencies
				b.SetBytes(int64(len(push)))
				b.ResetTimer()
				for b.Loop() {
					start := time.Now()
					r := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(push))
					r.Header.Set("Content-Type", "application/json")
					r.Header.Set("X-GitHub-Event", "push")
					r.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", seq.Add(1)))
					r.Header.Set("X-Hub-Signature-256", sig)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					lat.add(time.Since(start))
					if rec.Code != http.StatusAccepted {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
				if bareNs > 0 {
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/bareNs, "ratio-vs-bare")
				}
				lat.report(b)
			})
		})
	}
}

// BenchmarkIngestHTTP500 offers signed pushes at 500 deliveries/s, open
// loop, over real HTTP on 127.0.0.1 to a Handler on SQLite, and reports the
// latency each sender saw. It sends b.N deliveries, at least 500 (one
// second), so -benchtime 1x stays short; use -benchtime 5000x for longer.
func BenchmarkIngestHTTP500(b *testing.B) {
	const rate = 500
	push := readFixture(b, branchPush)
	h := &webhooks.Handler{
		Secrets: [][]byte{newSecret},
		Store:   storetest.SQLite(b),
		Waker:   &countingWaker{},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	sig := sign(newSecret, push)
	var seq atomic.Int64
	var failed atomic.Int64

	b.ResetTimer()
	n := max(b.N, rate)
	var lat latencies
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	start := time.Now()
	for range n {
		<-tick.C
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/github", bytes.NewReader(push))
			if err != nil {
				failed.Add(1)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("http-%d", seq.Add(1)))
			req.Header.Set("X-Hub-Signature-256", sig)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat.add(time.Since(t0))
			if resp.StatusCode != http.StatusAccepted {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Errorf("%d of %d deliveries failed", f, n)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
	lat.report(b)
}

// countingWaker wakes one project of any repository.
type countingWaker struct{ n atomic.Int64 }

func (w *countingWaker) WakeRepository(context.Context, string) (int, error) {
	w.n.Add(1)
	return 1, nil
}
