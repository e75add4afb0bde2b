package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
)

// TestServeSchedulesDependents: while serve leads, dependents day has a
// job per project on its .mainline.yaml schedule and time zone.
func TestServeSchedulesDependents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	repo := newSampleRepo(t, dir)
	repo.commit("with a schedule", map[string]string{".mainline.yaml": "builds: []\ndependencies: { schedule: \"30 6 * * 1\", timezone: Europe/Berlin, automerge: true }\n"})
	s := settings{DataDir: dir, DatabaseURL: "sqlite://" + filepath.Join(dir, "m.db"), GoProxy: "off", LeaseTTL: 10 * time.Second, Resync: time.Hour}
	srv, err := newServer(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)), controller.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	if _, err := srv.store.CreateProject(ctx, store.Project{Name: "orders", SCM: "git", Location: repo.bare}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.run(ctx) }()
	waitFor(t, 30*time.Second, "a dependents job for orders", func() bool {
		srv.depsMu.Lock()
		d := srv.deps
		srv.depsMu.Unlock()
		if d == nil {
			return false
		}
		for _, j := range d.Jobs() {
			if j.Project == "orders" && j.Schedule == "30 6 * * 1" && j.Timezone == "Europe/Berlin" {
				return true
			}
		}
		return false
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
