package notify_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/providers/notify"
)

func TestRetryingRetriesThenSucceeds(t *testing.T) {
	rc := newReceiver(t)
	rc.failNext(http.StatusInternalServerError, http.StatusBadGateway)
	clock := &fakeClock{}
	logs := &logRecorder{}
	r := &notify.Retrying{
		Next:    &notify.Webhook{URL: rc.URL, Secret: "hook-secret"},
		Backoff: 2 * time.Second,
		Clock:   clock,
		Logger:  slog.New(logs),
	}
	if err := r.Notify(context.Background(), note("deploy_finished", "live")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (500, 502, then 200)", len(reqs))
	}
	for i, req := range reqs[1:] {
		if string(req.Body) != string(reqs[0].Body) || req.Header.Get(notify.DeliveryHeader) != reqs[0].Header.Get(notify.DeliveryHeader) {
			t.Errorf("retry %d differs from the first delivery", i+1)
		}
	}
	if got, want := clock.waited(), []time.Duration{2 * time.Second, 4 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waited %v, want %v", got, want)
	}
	if got := logs.with("notification failed, will retry"); len(got) != 2 {
		t.Errorf("logged %d retries, want 2:\n%s", len(got), logs.text())
	}
	if got := logs.with("notification failed, giving up"); len(got) != 0 {
		t.Errorf("gave up on a delivered notification:\n%s", logs.text())
	}
	if strings.Contains(logs.text(), "hook-secret") {
		t.Errorf("log shows the secret:\n%s", logs.text())
	}
}

func TestRetryingGivesUp(t *testing.T) {
	rc := newReceiver(t)
	rc.failNext(500, 500, 500, 500, 500)
	logs := &logRecorder{}
	r := &notify.Retrying{
		Next:     &notify.Slack{WebhookURL: rc.URL + "/services/T0/B0/s3cr3t"},
		Attempts: 4,
		Clock:    &fakeClock{},
		Logger:   slog.New(logs),
	}
	if err := r.Notify(context.Background(), note("rolled_back", "rolled back")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(rc.requests()); got != 4 {
		t.Errorf("receiver got %d requests, want 4", got)
	}
	gaveUp := logs.with("notification failed, giving up")
	if len(gaveUp) != 1 {
		t.Fatalf("logged %d give-ups, want 1:\n%s", len(gaveUp), logs.text())
	}
	l := gaveUp[0]
	if l.Level != slog.LevelError || l.Attrs["attempts"] != "4" || l.Attrs["kind"] != "rolled_back" || l.Attrs["project"] != "orders" || !strings.Contains(l.Attrs["err"], "HTTP 500") {
		t.Errorf("give-up record = %+v, want error level, attempts 4, kind, project and the HTTP status", l)
	}
	if strings.Contains(logs.text(), "s3cr3t") {
		t.Errorf("log shows the Slack webhook URL:\n%s", logs.text())
	}
}

// TestRetryingPermanentFailure: a 4xx such as Slack's 404 for a deleted
// webhook will not get better; it is logged once and not retried.
func TestRetryingPermanentFailure(t *testing.T) {
	rc := newReceiver(t)
	rc.failNext(http.StatusNotFound)
	logs := &logRecorder{}
	r := &notify.Retrying{Next: &notify.Slack{WebhookURL: rc.URL}, Clock: &fakeClock{}, Logger: slog.New(logs)}
	if err := r.Notify(context.Background(), note("deploy_started", "")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(rc.requests()); got != 1 {
		t.Errorf("receiver got %d requests, want 1", got)
	}
	if got := logs.with("notification failed, giving up"); len(got) != 1 || got[0].Attrs["attempts"] != "1" {
		t.Errorf("give-ups = %+v, want one after 1 attempt", got)
	}
}

// TestRetryingNeverBlocks: with a receiver that hangs, Notify still
// returns at once; past the queue's size notifications are dropped and
// logged, and Close with an ended context cancels the hanging delivery.
func TestRetryingNeverBlocks(t *testing.T) {
	rc := newReceiver(t)
	rc.hang = make(chan struct{})
	rc.arrived = make(chan struct{}, 16)
	t.Cleanup(func() { close(rc.hang) })
	logs := &logRecorder{}
	r := &notify.Retrying{
		Next:      &notify.Webhook{URL: rc.URL},
		QueueSize: 2,
		Clock:     &fakeClock{},
		Logger:    slog.New(logs),
	}
	ctx := context.Background()
	if err := r.Notify(ctx, note("deploy_started", "")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	<-rc.arrived // the first is in flight, hanging
	for range 5 {
		if err := r.Notify(ctx, note("deploy_finished", "")); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	if got := logs.with("notification dropped: queue full"); len(got) != 3 {
		t.Errorf("logged %d drops, want 3 (5 queued, room for 2):\n%s", len(got), logs.text())
	}

	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Close(ended); !errors.Is(err, context.Canceled) {
		t.Errorf("Close(ended context) = %v, want context.Canceled", err)
	}
	if got := logs.with("notification dropped: closing"); len(got) != 2 {
		t.Errorf("logged %d drops on close, want the 2 queued:\n%s", len(got), logs.text())
	}
	if err := r.Notify(ctx, note("deploy_finished", "")); !errors.Is(err, notify.ErrClosed) {
		t.Errorf("Notify after Close = %v, want ErrClosed", err)
	}
}

// TestRetryingKeepsOrder: notifications reach Next in the order they were
// queued, retries included, so "finished" never overtakes "started".
func TestRetryingKeepsOrder(t *testing.T) {
	rc := newReceiver(t)
	rc.failNext(500)
	r := &notify.Retrying{Next: &notify.Webhook{URL: rc.URL}, Clock: &fakeClock{}}
	kinds := []string{"deploy_started", "deploy_finished", "verify_failed", "rolled_back"}
	for _, k := range kinds {
		if err := r.Notify(context.Background(), note(k, "")); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var got []string
	for _, req := range rc.requests() {
		got = append(got, req.Header.Get(notify.EventHeader))
	}
	want := append([]string{"deploy_started"}, kinds...) // the first failed once
	if !slices.Equal(got, want) {
		t.Errorf("received %v, want %v", got, want)
	}
}

// TestRetryingWhichErrors: only a receiver's answer that will not change
// (a 4xx other than 408 and 429) stops the retries; a joined error from
// Multi is retried while any part of it may go away.
func TestRetryingWhichErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int // attempts
	}{
		{"network", errors.New("connection refused"), 3},
		{"500", &notify.HTTPError{StatusCode: 500}, 3},
		{"429", &notify.HTTPError{StatusCode: 429}, 3},
		{"408", &notify.HTTPError{StatusCode: 408}, 3},
		{"404", &notify.HTTPError{StatusCode: 404}, 1},
		{"wrapped 400", fmt.Errorf("slack: %w", &notify.HTTPError{StatusCode: 400}), 1},
		{"404 and 500", errors.Join(&notify.HTTPError{StatusCode: 404}, &notify.HTTPError{StatusCode: 500}), 3},
		{"404 and 410", errors.Join(&notify.HTTPError{StatusCode: 404}, &notify.HTTPError{StatusCode: 410}), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &recorder{err: tt.err}
			r := &notify.Retrying{Next: next, Clock: &fakeClock{}}
			if err := r.Notify(context.Background(), note("deploy_finished", "")); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if err := r.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := len(next.kinds()); got != tt.want {
				t.Errorf("tried %d times, want %d", got, tt.want)
			}
		})
	}
}
