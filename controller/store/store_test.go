package store_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
)

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.SQLite(t) })
}

func TestConformancePostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.Postgres(t) })
}

// rawDB opens the database behind a store URL without the store, to do
// what only another (newer) binary would.
func rawDB(t testing.TB, url string) *sql.DB {
	t.Helper()
	var db *sql.DB
	if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
		var err error
		if db, err = sql.Open("sqlite", path); err != nil {
			t.Fatal(err)
		}
	} else {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		db = stdlib.OpenDB(*cfg)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func eachURL(t *testing.T, test func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, storetest.PostgresURL(t)) })
}

func TestSchemaTooNew(t *testing.T) {
	eachURL(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s, err := store.Open(ctx, url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		s.Close()
		// A newer Mainline migrated this database to version 9999.
		if _, err := rawDB(t, url).ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)"); err != nil {
			t.Fatal(err)
		}
		s, err = store.Open(ctx, url)
		if err == nil {
			s.Close()
			t.Fatalf("Open of a database at schema version 9999: got no error")
		}
		if !errors.Is(err, store.ErrSchemaTooNew) {
			t.Errorf("Open: got error %v, want ErrSchemaTooNew", err)
		}
		for _, want := range []string{"9999", "up to 3"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open: error %q does not contain %q", err, want)
			}
		}
	})
}

// TestReopen: opening a migrated database again keeps its rows and applies
// nothing twice.
func TestReopen(t *testing.T) {
	eachURL(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s, err := store.Open(ctx, url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		p, err := s.CreateProject(ctx, store.Project{Name: "kept", SCM: "git", Location: "/kept"})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = store.Open(ctx, url)
		if err != nil {
			t.Fatalf("Open again: %v", err)
		}
		defer s.Close()
		got, err := s.ProjectByName(ctx, "kept")
		if err != nil || got.ID != p.ID {
			t.Errorf("ProjectByName after reopening: got %+v, %v; want ID %d", got, err, p.ID)
		}
	})
}

// TestConcurrentOpen: replicas starting together against one fresh
// database all succeed; the migration lock lets exactly one migrate.
func TestConcurrentOpen(t *testing.T) {
	url := storetest.PostgresURL(t)
	ctx := t.Context()
	const replicas = 6
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			s, err := store.Open(ctx, url)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	var applied int
	if err := rawDB(t, url).QueryRowContext(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id = 1").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("migration 1 recorded %d times, want 1", applied)
	}
}

func TestOpenBadURL(t *testing.T) {
	const secret = "s3cr3t-pw"
	for _, tc := range []struct {
		name, url, want string
	}{
		{"unknown scheme", "mysql://root:" + secret + "@localhost/db", `unsupported database URL scheme "mysql"`},
		{"no scheme", "/var/lib/mainline.db", "no scheme"},
		{"unparsable", "postgres://u:" + secret + "@host:port/db", "invalid database URL"},
		{"sqlite without a file", "sqlite://", "names no file"},
		{"sqlite in memory", "sqlite::memory:", "in-memory"},
		{"sqlite missing directory", "sqlite:///nonexistent-dir-7f3a/mainline.db", "does not exist"},
		{"postgres unreachable", "postgres://mainline:" + secret + "@127.0.0.1:1/mainline?sslmode=disable&connect_timeout=5", "127.0.0.1"},
		{"postgres bad option", "postgres://mainline:" + secret + "@127.0.0.1:1/mainline?sslmode=bogus", "postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tc.url)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): got no error", tc.url)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open: error %q shows the password", err)
			}
		})
	}
}

// TestOpenSQLiteForms: the URL forms that name a SQLite file.
func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, url := range []string{
		"sqlite://" + dir + "/abs.db",
		"sqlite://rel.db",
		"sqlite:opaque.db",
		"file:file.db",
	} {
		s, err := store.Open(t.Context(), url)
		if err != nil {
			t.Errorf("Open(%q): %v", url, err)
			continue
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping of %q: %v", url, err)
		}
		s.Close()
	}
}
