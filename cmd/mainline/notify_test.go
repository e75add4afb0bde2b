package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/providers"
)

// TestNotifyRouting: MAINLINE_NOTIFY_WEBHOOK_KINDS and _PROJECTS limit
// what the webhook receiver gets; an unknown kind is refused at start.
func TestNotifyRouting(t *testing.T) {
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Project, Kind string }
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, p.Project+" "+p.Kind)
		mu.Unlock()
	}))
	defer recv.Close()
	dir := t.TempDir()
	env := map[string]string{
		"MAINLINE_DATA_DIR":                dir,
		"MAINLINE_NOTIFY_WEBHOOK_URL":      recv.URL,
		"MAINLINE_NOTIFY_WEBHOOK_SECRET":   "s3cret",
		"MAINLINE_NOTIFY_WEBHOOK_KINDS":    "rolled_back, verify_failed",
		"MAINLINE_NOTIFY_WEBHOOK_PROJECTS": "shop",
	}
	s, err := loadSettings(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(context.Background(), s, slog.New(slog.NewTextHandler(io.Discard, nil)), controller.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	n := srv.controller.Providers.Notifier
	for _, note := range []providers.Notification{
		{Project: "shop", Kind: "deploy_started"}, {Project: "shop", Kind: "rolled_back"},
		{Project: "blog", Kind: "rolled_back"}, {Project: "shop", Kind: "verify_failed"},
	} {
		if err := n.Notify(context.Background(), note); err != nil {
			t.Fatal(err)
		}
	}
	srv.close() // flushes the background queues
	mu.Lock()
	sort.Strings(got)
	mu.Unlock()
	if want := []string{"shop rolled_back", "shop verify_failed"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("receiver got %q, want %q", got, want)
	}

	env["MAINLINE_SLACK_KINDS"] = "rolled_back,rollbacked"
	if _, err := loadSettings(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), `MAINLINE_SLACK_KINDS: unknown notification kind "rollbacked"`) {
		t.Errorf("loadSettings with a bad kind: %v", err)
	}
}
