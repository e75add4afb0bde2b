package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqlStore implements Store over database/sql for both backends. The SQL is
// shared: SQLite (3.35+) and PostgreSQL both speak $N placeholders, ON
// CONFLICT upserts and RETURNING, and the drivers map time.Time to each
// schema's time columns. Only the migrations differ.
type sqlStore struct {
	rdb *sql.DB // reads
	wdb *sql.DB // writes and transactions; on SQLite a pool of one connection

	// r and w run the queries: the pools above, or both the transaction
	// of an InTx store.
	r, w querier
	tx   bool

	// pg is set on PostgreSQL, whose clock the lease queries use (see
	// lease.go); every other query is the same on both backends.
	pg bool
}

var _ Store = (*sqlStore)(nil)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func newSQLStore(rdb, wdb *sql.DB) *sqlStore {
	return &sqlStore{rdb: rdb, wdb: wdb, r: rdb, w: wdb}
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// ts is how a time is written: UTC, at the microsecond precision both
// backends keep, so what a caller gets back from a write is what a later
// read returns.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTS writes the zero time as NULL ("not yet").
func nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// nowTS is the current time as the store writes it; the store only asks
// for it where the contract says the store sets a time.
func nowTS() time.Time { return ts(time.Now()) }

// fromNull reads a nullable time column back, in UTC.
func fromNull(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// isForeignKeyViolation reports whether err says a referenced row (a
// project) does not exist.
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// writeErr wraps the error of a write that references project projectID.
func writeErr(what string, projectID int64, err error) error {
	if isForeignKeyViolation(err) {
		return fmt.Errorf("%s: project %d: %w", what, projectID, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// exactlyOne turns "no row affected" into notFound.
func exactlyOne(res sql.Result, err error, what string, notFound error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, notFound)
	}
	return nil
}

// limitClause is " LIMIT n", or nothing when n <= 0 (no limit).
func limitClause(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" LIMIT %d", n)
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// queryOne runs a query for one row; no row is ErrNotFound.
func queryOne[T any](ctx context.Context, q querier, what string, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// Projects.

const projectCols = "id, name, scm, location, branch, paused, pinned, created_at, webhook_secret, webhook_secret_previous"

func scanProject(s scanner) (Project, error) {
	var p Project
	var secret, previous sql.NullString
	err := s.Scan(&p.ID, &p.Name, &p.SCM, &p.Location, &p.Branch, &p.Paused, &p.Pinned, &p.CreatedAt, &secret, &previous)
	p.CreatedAt = p.CreatedAt.UTC()
	p.WebhookSecret, p.WebhookSecretPrevious = secret.String, previous.String
	return p, err
}

// nullIfEmpty stores an empty string as NULL.
func nullIfEmpty(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

func (s *sqlStore) CreateProject(ctx context.Context, p Project) (Project, error) {
	p.CreatedAt = nowTS()
	err := s.w.QueryRowContext(ctx, `INSERT INTO projects (name, scm, location, branch, paused, pinned, created_at, webhook_secret, webhook_secret_previous)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING RETURNING id`,
		p.Name, p.SCM, p.Location, p.Branch, p.Paused, p.Pinned, p.CreatedAt,
		nullIfEmpty(p.WebhookSecret), nullIfEmpty(p.WebhookSecretPrevious)).Scan(&p.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, fmt.Errorf("create project %q: name taken: %w", p.Name, ErrConflict)
	}
	if err != nil {
		return Project{}, fmt.Errorf("create project %q: %w", p.Name, err)
	}
	return p, nil
}

func (s *sqlStore) Project(ctx context.Context, id int64) (Project, error) {
	return queryOne(ctx, s.r, fmt.Sprintf("project %d", id), scanProject,
		"SELECT "+projectCols+" FROM projects WHERE id = $1", id)
}

func (s *sqlStore) ProjectByName(ctx context.Context, name string) (Project, error) {
	return queryOne(ctx, s.r, fmt.Sprintf("project %q", name), scanProject,
		"SELECT "+projectCols+" FROM projects WHERE name = $1", name)
}

func (s *sqlStore) ProjectsByLocation(ctx context.Context, scm, location string) ([]Project, error) {
	return queryAll(ctx, s.r, fmt.Sprintf("projects at %s %s", scm, location), scanProject,
		"SELECT "+projectCols+" FROM projects WHERE scm = $1 AND location = $2 ORDER BY name", scm, location)
}

func (s *sqlStore) Projects(ctx context.Context) ([]Project, error) {
	return queryAll(ctx, s.r, "projects", scanProject, "SELECT "+projectCols+" FROM projects ORDER BY name")
}

func (s *sqlStore) UpdateProject(ctx context.Context, p Project) error {
	res, err := s.w.ExecContext(ctx, `UPDATE projects SET branch = $1, paused = $2, pinned = $3,
		webhook_secret = $4, webhook_secret_previous = $5 WHERE id = $6`,
		p.Branch, p.Paused, p.Pinned, nullIfEmpty(p.WebhookSecret), nullIfEmpty(p.WebhookSecretPrevious), p.ID)
	return exactlyOne(res, err, fmt.Sprintf("update project %d", p.ID), ErrNotFound)
}

// Deliveries.

func scanDelivery(s scanner) (Delivery, error) {
	var d Delivery
	var processed sql.NullTime
	err := s.Scan(&d.ID, &d.Event, &d.Repo, &d.Payload, &d.ReceivedAt, &processed)
	d.ReceivedAt = d.ReceivedAt.UTC()
	d.ProcessedAt = fromNull(processed)
	return d, err
}

func (s *sqlStore) AddDelivery(ctx context.Context, d Delivery) (bool, error) {
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = time.Now()
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO deliveries (id, event, repo, payload, received_at, processed_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
		d.ID, d.Event, d.Repo, d.Payload, ts(d.ReceivedAt), nullTS(d.ProcessedAt))
	if err != nil {
		return false, fmt.Errorf("add delivery %s: %w", d.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("add delivery %s: %w", d.ID, err)
	}
	return n == 1, nil
}

func (s *sqlStore) MarkDeliveryProcessed(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, "UPDATE deliveries SET processed_at = $1 WHERE id = $2", ts(at), id)
	return exactlyOne(res, err, "mark delivery "+id+" processed", ErrNotFound)
}

func (s *sqlStore) PendingDeliveries(ctx context.Context, limit int) ([]Delivery, error) {
	return queryAll(ctx, s.r, "pending deliveries", scanDelivery,
		`SELECT id, event, repo, payload, received_at, processed_at FROM deliveries
		WHERE processed_at IS NULL ORDER BY received_at, id`+limitClause(limit))
}

// Heads.

func scanHead(s scanner) (Head, error) {
	var h Head
	err := s.Scan(&h.ProjectID, &h.Branch, &h.SHA, &h.SeenAt)
	h.SeenAt = h.SeenAt.UTC()
	return h, err
}

func (s *sqlStore) SetHead(ctx context.Context, h Head) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO heads (project_id, branch, sha, seen_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, branch) DO UPDATE SET sha = excluded.sha, seen_at = excluded.seen_at`,
		h.ProjectID, h.Branch, h.SHA, ts(h.SeenAt))
	if err != nil {
		return writeErr("set head of "+h.Branch, h.ProjectID, err)
	}
	return nil
}

func (s *sqlStore) Head(ctx context.Context, projectID int64, branch string) (Head, error) {
	return queryOne(ctx, s.r, fmt.Sprintf("head of project %d branch %s", projectID, branch), scanHead,
		"SELECT project_id, branch, sha, seen_at FROM heads WHERE project_id = $1 AND branch = $2", projectID, branch)
}

// Tags.

func scanTag(s scanner) (Tag, error) {
	var t Tag
	err := s.Scan(&t.ProjectID, &t.Name, &t.SHA, &t.Message, &t.CreatedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, err
}

func (s *sqlStore) AddTag(ctx context.Context, t Tag) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO tags (project_id, name, sha, message, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, name) DO NOTHING`,
		t.ProjectID, t.Name, t.SHA, t.Message, ts(t.CreatedAt))
	if err != nil {
		return writeErr("add tag "+t.Name, t.ProjectID, err)
	}
	return exactlyOne(res, nil, "add tag "+t.Name, ErrConflict)
}

func (s *sqlStore) Tags(ctx context.Context, projectID int64) ([]Tag, error) {
	return queryAll(ctx, s.r, fmt.Sprintf("tags of project %d", projectID), scanTag,
		`SELECT project_id, name, sha, message, created_at FROM tags WHERE project_id = $1
		ORDER BY created_at DESC, name DESC`, projectID)
}

// Builds.

const buildCols = "project_id, name, version, status, image, digest, error, log, started_at, finished_at"

func scanBuild(s scanner) (Build, error) {
	var b Build
	var started, finished sql.NullTime
	err := s.Scan(&b.ProjectID, &b.Name, &b.Version, &b.Status, &b.Image, &b.Digest, &b.Error, &b.Log, &started, &finished)
	b.StartedAt, b.FinishedAt = fromNull(started), fromNull(finished)
	return b, err
}

func (s *sqlStore) PutBuild(ctx context.Context, b Build) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO builds (`+buildCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (project_id, name, version) DO UPDATE SET status = excluded.status, image = excluded.image,
			digest = excluded.digest, error = excluded.error, log = excluded.log,
			started_at = excluded.started_at, finished_at = excluded.finished_at`,
		b.ProjectID, b.Name, b.Version, string(b.Status), b.Image, b.Digest, b.Error, b.Log,
		nullTS(b.StartedAt), nullTS(b.FinishedAt))
	if err != nil {
		return writeErr(fmt.Sprintf("put build %s@%s", b.Name, b.Version), b.ProjectID, err)
	}
	return nil
}

func (s *sqlStore) Build(ctx context.Context, projectID int64, name, version string) (Build, error) {
	return queryOne(ctx, s.r, fmt.Sprintf("build %s@%s of project %d", name, version, projectID), scanBuild,
		"SELECT "+buildCols+" FROM builds WHERE project_id = $1 AND name = $2 AND version = $3", projectID, name, version)
}

// Builds puts builds not started yet first: they are the newest.
func (s *sqlStore) Builds(ctx context.Context, projectID int64, limit int) ([]Build, error) {
	return queryAll(ctx, s.r, fmt.Sprintf("builds of project %d", projectID), scanBuild,
		"SELECT "+buildCols+` FROM builds WHERE project_id = $1
		ORDER BY started_at DESC NULLS FIRST, version DESC, name`+limitClause(limit), projectID)
}

// Desired state.

const desiredCols = "project_id, build, version, instances, set_at, set_by, revision"

func scanDesired(s scanner) (Desired, error) {
	var d Desired
	err := s.Scan(&d.ProjectID, &d.Build, &d.Version, &d.Instances, &d.SetAt, &d.SetBy, &d.Revision)
	d.SetAt = d.SetAt.UTC()
	return d, err
}

// SetDesired is one statement in both cases, so the compare and the set are
// atomic without a transaction: an INSERT that does nothing if a row exists,
// or an UPDATE guarded by the expected revision.
func (s *sqlStore) SetDesired(ctx context.Context, d Desired) (Desired, error) {
	what := fmt.Sprintf("set desired %s of project %d at revision %d", d.Build, d.ProjectID, d.Revision)
	d.SetAt = ts(d.SetAt)
	var (
		res sql.Result
		err error
	)
	if d.Revision == 0 {
		res, err = s.w.ExecContext(ctx, `INSERT INTO desired_states (`+desiredCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, 1) ON CONFLICT (project_id, build) DO NOTHING`,
			d.ProjectID, d.Build, d.Version, d.Instances, d.SetAt, d.SetBy)
	} else {
		res, err = s.w.ExecContext(ctx, `UPDATE desired_states
			SET version = $1, instances = $2, set_at = $3, set_by = $4, revision = revision + 1
			WHERE project_id = $5 AND build = $6 AND revision = $7`,
			d.Version, d.Instances, d.SetAt, d.SetBy, d.ProjectID, d.Build, d.Revision)
	}
	if err != nil {
		return Desired{}, writeErr(what, d.ProjectID, err)
	}
	if err := exactlyOne(res, nil, what, ErrConflict); err != nil {
		return Desired{}, err
	}
	d.Revision++
	return d, nil
}

func (s *sqlStore) Desired(ctx context.Context, projectID int64, build string) (Desired, error) {
	return queryOne(ctx, s.r, fmt.Sprintf("desired %s of project %d", build, projectID), scanDesired,
		"SELECT "+desiredCols+" FROM desired_states WHERE project_id = $1 AND build = $2", projectID, build)
}

func (s *sqlStore) DesiredStates(ctx context.Context, projectID int64) ([]Desired, error) {
	return queryAll(ctx, s.r, fmt.Sprintf("desired states of project %d", projectID), scanDesired,
		"SELECT "+desiredCols+" FROM desired_states WHERE project_id = $1 ORDER BY build", projectID)
}

// Last state.

func scanLast(s scanner) (Last, error) {
	var l Last
	var versions string
	if err := s.Scan(&l.ProjectID, &l.Build, &versions, &l.ObservedAt); err != nil {
		return l, err
	}
	l.ObservedAt = l.ObservedAt.UTC()
	var err error
	if l.Versions, err = decodeVersions(versions); err != nil {
		return l, fmt.Errorf("versions: %w", err)
	}
	return l, nil
}

// decodeVersions reads a last state's versions column, a JSON object of
// version to instances. The dashboard's overview reads thousands of them
// per page, so the shape SetLast writes (and PostgreSQL's jsonb gives
// back) is read directly; anything else (escapes, exponents, bad JSON)
// goes to encoding/json, whose answer is the reference.
func decodeVersions(js string) (map[string]int, error) {
	if m, ok := decodeFlatInts(js); ok {
		return m, nil
	}
	var m map[string]int
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeFlatInts parses {"key": int, ...} with plain keys (no escapes)
// and small decimal integers, and reports false for anything else.
func decodeFlatInts(s string) (map[string]int, bool) {
	i := 0
	ws := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	ws()
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	i++
	m := make(map[string]int, 2)
	ws()
	if i < len(s) && s[i] == '}' {
		i++
		ws()
		return m, i == len(s)
	}
	for {
		ws()
		if i >= len(s) || s[i] != '"' {
			return nil, false
		}
		i++
		start := i
		for i < len(s) && s[i] != '"' {
			if c := s[i]; c == '\\' || c < 0x20 || c >= 0x80 {
				return nil, false // escapes, control bytes, non-ASCII: the slow path checks them
			}
			i++
		}
		if i >= len(s) {
			return nil, false
		}
		key := s[start:i]
		i++
		ws()
		if i >= len(s) || s[i] != ':' {
			return nil, false
		}
		i++
		ws()
		neg := i < len(s) && s[i] == '-'
		if neg {
			i++
		}
		start = i
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			n = n*10 + int(s[i]-'0')
			i++
		}
		digits := i - start
		if digits == 0 || digits > 15 || (digits > 1 && s[start] == '0') {
			return nil, false
		}
		if neg {
			n = -n
		}
		m[key] = n
		ws()
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			i++
			ws()
			return m, i == len(s)
		default:
			return nil, false
		}
	}
}

func (s *sqlStore) SetLast(ctx context.Context, l Last) error {
	what := fmt.Sprintf("set last %s of project %d", l.Build, l.ProjectID)
	versions := l.Versions
	if versions == nil {
		versions = map[string]int{}
	}
	js, err := json.Marshal(versions)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO last_states (project_id, build, versions, observed_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, build) DO UPDATE SET versions = excluded.versions, observed_at = excluded.observed_at`,
		l.ProjectID, l.Build, string(js), ts(l.ObservedAt))
	if err != nil {
		return writeErr(what, l.ProjectID, err)
	}
	return nil
}

func (s *sqlStore) Last(ctx context.Context, projectID int64, build string) (Last, error) {
	return queryOne(ctx, s.r, fmt.Sprintf("last %s of project %d", build, projectID), scanLast,
		"SELECT project_id, build, versions, observed_at FROM last_states WHERE project_id = $1 AND build = $2",
		projectID, build)
}

// Events.

func scanEvent(s scanner) (Event, error) {
	var e Event
	err := s.Scan(&e.ID, &e.ProjectID, &e.Kind, &e.Message, &e.At)
	e.At = e.At.UTC()
	return e, err
}

// AddEvent stamps an event with a zero At with the current time.
func (s *sqlStore) AddEvent(ctx context.Context, e Event) (Event, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = ts(e.At)
	err := s.w.QueryRowContext(ctx, `INSERT INTO events (project_id, kind, message, happened_at)
		VALUES ($1, $2, $3, $4) RETURNING id`, e.ProjectID, e.Kind, e.Message, e.At).Scan(&e.ID)
	if err != nil {
		return Event{}, fmt.Errorf("add event %s of project %d: %w", e.Kind, e.ProjectID, err)
	}
	return e, nil
}

// Events builds its WHERE clause from the filters in use, so that each
// query shape can use its index (a generic "$1 = 0 OR project_id = $1"
// cannot).
func (s *sqlStore) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.ProjectID != 0 {
		add("project_id = $%d", q.ProjectID)
	}
	if q.Kind != "" {
		add("kind = $%d", q.Kind)
	}
	if q.BeforeID != 0 {
		add("id < $%d", q.BeforeID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	query := "SELECT id, project_id, kind, message, happened_at FROM events"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC" + limitClause(limit)
	return queryAll(ctx, s.r, "events", scanEvent, query, args...)
}

// Rejections.

func scanRejection(s scanner) (Rejection, error) {
	var r Rejection
	err := s.Scan(&r.ProjectID, &r.Version, &r.Reason, &r.At)
	r.At = r.At.UTC()
	return r, err
}

func (s *sqlStore) Reject(ctx context.Context, r Rejection) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO rejections (project_id, version, reason, rejected_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, version) DO UPDATE SET reason = excluded.reason, rejected_at = excluded.rejected_at`,
		r.ProjectID, r.Version, r.Reason, ts(r.At))
	if err != nil {
		return writeErr("reject "+r.Version, r.ProjectID, err)
	}
	return nil
}

// Unreject of a version that is not rejected is not an error.
func (s *sqlStore) Unreject(ctx context.Context, projectID int64, version string) error {
	_, err := s.w.ExecContext(ctx, "DELETE FROM rejections WHERE project_id = $1 AND version = $2", projectID, version)
	if err != nil {
		return fmt.Errorf("unreject %s of project %d: %w", version, projectID, err)
	}
	return nil
}

// Rejections lists the newest rejection first.
func (s *sqlStore) Rejections(ctx context.Context, projectID int64) ([]Rejection, error) {
	return queryAll(ctx, s.r, fmt.Sprintf("rejections of project %d", projectID), scanRejection,
		`SELECT project_id, version, reason, rejected_at FROM rejections WHERE project_id = $1
		ORDER BY rejected_at DESC, version DESC`, projectID)
}

// Verification runs.

const verifyCols = "id, project_id, version, run_trigger, status, summary, report, started_at, finished_at"

func scanVerifyRun(s scanner) (VerifyRun, error) {
	var r VerifyRun
	var finished sql.NullTime
	err := s.Scan(&r.ID, &r.ProjectID, &r.Version, &r.Trigger, &r.Status, &r.Summary, &r.Report, &r.StartedAt, &finished)
	r.StartedAt = r.StartedAt.UTC()
	r.FinishedAt = fromNull(finished)
	return r, err
}

func (s *sqlStore) AddVerifyRun(ctx context.Context, r VerifyRun) (VerifyRun, error) {
	r.StartedAt = ts(r.StartedAt)
	if !r.FinishedAt.IsZero() {
		r.FinishedAt = ts(r.FinishedAt)
	}
	err := s.w.QueryRowContext(ctx, `INSERT INTO verify_runs (project_id, version, run_trigger, status, summary, report, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		r.ProjectID, r.Version, r.Trigger, r.Status, r.Summary, r.Report, r.StartedAt, nullTS(r.FinishedAt)).Scan(&r.ID)
	if err != nil {
		return VerifyRun{}, writeErr("add verify run of "+r.Version, r.ProjectID, err)
	}
	return r, nil
}

func (s *sqlStore) UpdateVerifyRun(ctx context.Context, r VerifyRun) error {
	res, err := s.w.ExecContext(ctx, "UPDATE verify_runs SET status = $1, summary = $2, report = $3, finished_at = $4 WHERE id = $5",
		r.Status, r.Summary, r.Report, nullTS(r.FinishedAt), r.ID)
	return exactlyOne(res, err, fmt.Sprintf("update verify run %d", r.ID), ErrNotFound)
}

func (s *sqlStore) VerifyRuns(ctx context.Context, projectID int64, limit int) ([]VerifyRun, error) {
	return queryAll(ctx, s.r, fmt.Sprintf("verify runs of project %d", projectID), scanVerifyRun,
		"SELECT "+verifyCols+" FROM verify_runs WHERE project_id = $1 ORDER BY started_at DESC, id DESC"+limitClause(limit),
		projectID)
}

// Dependency pull requests.

func scanDependencyPR(s scanner) (DependencyPR, error) {
	var pr DependencyPR
	err := s.Scan(&pr.ProjectID, &pr.Number, &pr.Branch, &pr.Title, &pr.State, &pr.Checks, &pr.URL, &pr.UpdatedAt)
	pr.UpdatedAt = pr.UpdatedAt.UTC()
	return pr, err
}

func (s *sqlStore) PutDependencyPR(ctx context.Context, pr DependencyPR) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO dependency_prs (project_id, number, branch, title, state, checks, url, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (project_id, number) DO UPDATE SET branch = excluded.branch, title = excluded.title,
			state = excluded.state, checks = excluded.checks, url = excluded.url, updated_at = excluded.updated_at`,
		pr.ProjectID, pr.Number, pr.Branch, pr.Title, pr.State, pr.Checks, pr.URL, ts(pr.UpdatedAt))
	if err != nil {
		return writeErr(fmt.Sprintf("put dependency PR #%d", pr.Number), pr.ProjectID, err)
	}
	return nil
}

// DependencyPRs lists the newest pull request (highest number) first.
func (s *sqlStore) DependencyPRs(ctx context.Context, projectID int64) ([]DependencyPR, error) {
	return queryAll(ctx, s.r, fmt.Sprintf("dependency PRs of project %d", projectID), scanDependencyPR,
		`SELECT project_id, number, branch, title, state, checks, url, updated_at FROM dependency_prs
		WHERE project_id = $1 ORDER BY number DESC`, projectID)
}

// Tokens. Errors name the token, never its hash.

func scanToken(s scanner) (Token, error) {
	var t Token
	err := s.Scan(&t.ID, &t.Name, &t.Hash, &t.CreatedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, err
}

// AddToken stamps a token with a zero CreatedAt with the current time. A
// hash already stored under another name is ErrConflict too.
func (s *sqlStore) AddToken(ctx context.Context, t Token) (Token, error) {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	t.CreatedAt = ts(t.CreatedAt)
	err := s.w.QueryRowContext(ctx, `INSERT INTO tokens (name, hash, created_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING RETURNING id`, t.Name, t.Hash, t.CreatedAt).Scan(&t.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("add token %q: %w", t.Name, ErrConflict)
	}
	if err != nil {
		return Token{}, fmt.Errorf("add token %q: %w", t.Name, err)
	}
	return t, nil
}

func (s *sqlStore) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	return queryOne(ctx, s.r, "token by hash", scanToken,
		"SELECT id, name, hash, created_at FROM tokens WHERE hash = $1", hash)
}

// Transactions and lifetime.

// InTx runs fn in one transaction. On SQLite the transaction holds the one
// write connection, so fn must use tx, not the outer Store, for writes: a
// write through the outer Store would wait for the transaction to end.
func (s *sqlStore) InTx(ctx context.Context, fn func(tx Store) error) (err error) {
	if s.tx {
		return fn(s)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	done := false
	defer func() {
		if !done { // fn panicked
			tx.Rollback()
		}
	}()
	txs := &sqlStore{rdb: s.rdb, wdb: s.wdb, r: tx, w: tx, tx: true, pg: s.pg}
	if err := fn(txs); err != nil {
		done = true
		if rbErr := tx.Rollback(); rbErr != nil {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rbErr))
		}
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Ping runs a query on a read connection: on SQLite the write connection
// may be busy with a long transaction, which is no reason to be unready.
func (s *sqlStore) Ping(ctx context.Context) error {
	var one int
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes the database; on a transaction's Store it does nothing (the
// transaction ends when fn returns).
func (s *sqlStore) Close() error {
	if s.tx {
		return nil
	}
	err := s.wdb.Close()
	if s.rdb != s.wdb {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}
