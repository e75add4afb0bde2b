package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// migrations holds one directory of goose SQL migrations per dialect. The
// two sets describe the same schema and must keep the same version numbers.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrateLockKey is the PostgreSQL advisory lock held while migrating, so
// that replicas starting together apply each migration once. It spells
// "mainline" in ASCII; the controller's leader lock must use another key.
const migrateLockKey int64 = 0x6d61696e6c696e65

// Open connects to the database named by rawURL, applies any pending schema
// migrations and returns a Store. Accepted URLs:
//
//	sqlite:///abs/path/mainline.db   SQLite file at an absolute path
//	sqlite://rel/path/mainline.db    SQLite file relative to the working directory
//	sqlite:mainline.db, file:mainline.db
//	postgres://user:pass@host:5432/db?sslmode=disable (or postgresql://)
//
// A database whose schema is newer than this binary knows is refused with an
// error wrapping ErrSchemaTooNew. Errors never contain the URL's password.
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// A *url.Error repeats the whole URL, password included: keep only
		// the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("store: invalid database URL: %v", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "sqlite", "sqlite3", "file":
		return openSQLite(ctx, u)
	case "postgres", "postgresql":
		return openPostgres(ctx, u)
	case "":
		return nil, errors.New("store: database URL has no scheme (want sqlite:///path/file.db or postgres://...)")
	default:
		return nil, fmt.Errorf("store: unsupported database URL scheme %q (want sqlite or postgres)", u.Scheme)
	}
}

// sqlitePath returns the file path a sqlite: or file: URL names.
func sqlitePath(u *url.URL) (string, error) {
	var p string
	switch {
	case u.Opaque != "": // sqlite:rel/file.db
		p = u.Opaque
	case u.Host != "": // sqlite://rel/file.db
		p = u.Host + u.Path
	default: // sqlite:///abs/file.db
		p = u.Path
	}
	if p == "" {
		return "", errors.New("store: sqlite URL names no file")
	}
	if p == ":memory:" || u.Query().Get("mode") == "memory" {
		// Reads and writes use separate connections, which would each see
		// their own empty in-memory database.
		return "", errors.New("store: in-memory SQLite is not supported; name a file")
	}
	return filepath.Clean(p), nil
}

// sqliteDSN is the modernc.org/sqlite data source for path. Every
// connection gets WAL (readers never block the writer), a busy timeout,
// foreign keys, BEGIN IMMEDIATE for transactions (a transaction that reads
// and then writes can't fail on lock upgrade), and times stored as integer
// microseconds in TIMESTAMP columns.
func sqliteDSN(path string, extra url.Values, readOnly bool) string {
	q := url.Values{}
	for k, vs := range extra {
		q[k] = append([]string(nil), vs...)
	}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	q.Set("_time_integer_format", "unix_micro")
	q.Set("_inttotime", "1")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// openSQLite opens two pools on one file: a single connection for writes
// (SQLite has one writer at a time; queueing in Go is cheaper and fairer
// than retrying on SQLITE_BUSY) and several read-only connections, which WAL
// lets run beside the writer.
func openSQLite(ctx context.Context, u *url.URL) (Store, error) {
	path, err := sqlitePath(u)
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "." {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("store: sqlite %s: directory %s does not exist", path, dir)
		}
	}
	extra := u.Query()
	wdb, err := sql.Open("sqlite", sqliteDSN(path, extra, false))
	if err != nil {
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb, goose.DialectSQLite3, "migrations/sqlite", nil); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", sqliteDSN(path, extra, true))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	if err := rdb.PingContext(ctx); err != nil {
		rdb.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	return newSQLStore(rdb, wdb), nil
}

// openPostgres uses database/sql over pgx's stdlib adapter rather than
// pgxpool directly: the same query code then serves both backends, and
// goose needs a *sql.DB anyway. The cost (a little per-row overhead) is far
// below the network round trip.
func openPostgres(ctx context.Context, u *url.URL) (Store, error) {
	where := u.Redacted()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("store: postgres %s: %w", where, err)
	}
	db := stdlib.OpenDB(*cfg)
	// Enough for a busy controller and dashboard, few enough that many
	// replicas (and many parallel tests) fit in max_connections.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres %s: %w", where, err)
	}
	if err := migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", lockPostgres); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres %s: %w", where, err)
	}
	s := newSQLStore(db, db)
	s.pg = true
	return s, nil
}

// lockPostgres holds a session advisory lock on its own connection until
// the returned unlock is called; pg_advisory_lock waits (no polling) while
// another process migrates.
func lockPostgres(ctx context.Context, db *sql.DB) (unlock func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		conn.Close()
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	return func() {
		// Unlock even if ctx is done. Should the unlock fail, closing the
		// connection ends the session, which releases the lock too.
		conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey)
		conn.Close()
	}, nil
}

// migrate applies the migrations in dir to db, holding the lock lock takes
// (if any). It refuses a database already at a version newer than the
// newest migration in dir.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, lock func(context.Context, *sql.DB) (func(), error)) error {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if lock != nil {
		unlock, err := lock(ctx, db)
		if err != nil {
			return err
		}
		defer unlock()
	}
	sources := p.ListSources()
	known := sources[len(sources)-1].Version
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if current > known {
		return fmt.Errorf("schema version %d, this binary knows up to %d: %w", current, known, ErrSchemaTooNew)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate from version %d to %d: %w", current, known, err)
	}
	return nil
}
