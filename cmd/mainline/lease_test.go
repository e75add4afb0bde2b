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

// TestLeaseLostAndRegained: a server whose lease is taken from it stops
// leading without exiting, and when it gets the lease back it runs the
// controller again: a later push is tagged.
func TestLeaseLostAndRegained(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	repo := newSampleRepo(t, dir)
	repo.commit("library", map[string]string{".mainline.yaml": "builds: []\n"})
	s := settings{DataDir: dir, DatabaseURL: "sqlite://" + filepath.Join(dir, "m.db"), GoProxy: "off",
		LeaseTTL: 900 * time.Millisecond, Resync: 200 * time.Millisecond}
	srv, err := newServer(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)), controller.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	p, err := srv.store.CreateProject(ctx, store.Project{Name: "lib", SCM: "git", Location: repo.bare})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.run(ctx) }()
	tagged := func(n int) func() bool {
		return func() bool { tags, _ := srv.store.Tags(ctx, p.ID); return len(tags) == n }
	}
	waitFor(t, 30*time.Second, "leading and tagging", func() bool { return srv.role() == "leader" && tagged(1)() })

	// Another holder takes the lease (as a replica would after a long
	// stall of this one) and keeps it for a while.
	l, err := srv.store.Lease(ctx, leaseName)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.store.ReleaseLease(ctx, leaseName, l.Holder); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.store.AcquireLease(ctx, leaseName, "intruder/1/x", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "following", func() bool { return srv.role() == "follower" })
	select {
	case err := <-done:
		t.Fatalf("serve stopped when it lost the lease: %v", err)
	default:
	}
	repo.commit("while following", nil)
	waitFor(t, 30*time.Second, "leading again and tagging the new commit", func() bool { return srv.role() == "leader" && tagged(2)() })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
