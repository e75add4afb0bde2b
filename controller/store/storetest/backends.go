package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mainline-cd/mainline/controller/store"
)

// PostgresEnv names the environment variable holding the URL of a
// PostgreSQL server tests may create databases on. Tests that need
// PostgreSQL skip only when it is unset; CI always sets it.
const PostgresEnv = "MAINLINE_TEST_DATABASE_URL"

// SQLiteURL returns the URL of a new SQLite file in t.TempDir().
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "mainline.db")
}

// SQLite opens a fresh SQLite store in t.TempDir() and closes it when the
// test ends.
func SQLite(t testing.TB) store.Store {
	t.Helper()
	return open(t, SQLiteURL(t))
}

// PostgresURL creates a new, empty database with a unique name on the
// server named by MAINLINE_TEST_DATABASE_URL, returns its URL and drops it
// when the test ends. It skips t when the variable is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		t.Skipf("%s is not set", PostgresEnv)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: invalid URL", PostgresEnv)
	}
	var b [8]byte
	rand.Read(b[:])
	name := "mainline_test_" + hex.EncodeToString(b[:])

	exec := func(ctx context.Context, query string) error {
		cfg, err := pgx.ParseConfig(admin)
		if err != nil {
			return err
		}
		db := stdlib.OpenDB(*cfg)
		defer db.Close()
		_, err = db.ExecContext(ctx, query)
		return err
	}
	// Names are hex: no quoting needed.
	if err := exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database on %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		if err := exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Postgres opens a store on a fresh PostgreSQL database (see PostgresURL),
// closes it and drops the database when the test ends. It skips t when
// MAINLINE_TEST_DATABASE_URL is unset.
func Postgres(t testing.TB) store.Store {
	t.Helper()
	return open(t, PostgresURL(t))
}

// Each runs test once per backend, as subtests "sqlite" and "postgres",
// each with a fresh store.
func Each(t *testing.T, test func(t *testing.T, s store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { test(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, Postgres(t)) })
}

func open(t testing.TB, url string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}
