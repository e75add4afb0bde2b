package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Leases. Each operation is one statement. On PostgreSQL "now" is
// clock_timestamp(), the database's clock at the moment the statement runs
// (not now(), which stands still for a whole transaction), so replicas
// whose clocks disagree cannot both see themselves as the holder. On
// SQLite, which has one replica, it is this process's clock.
//
// A released lease keeps its row with holder '' and an expiry in the past:
// deleting it would let the next holder start again at term 1, and a
// deposed leader still at term 1 would then pass CheckLease.

const leaseCols = "name, holder, term, expires_at"

func scanLease(s scanner) (Lease, error) {
	var l Lease
	err := s.Scan(&l.Name, &l.Holder, &l.Term, &l.ExpiresAt)
	l.ExpiresAt = l.ExpiresAt.UTC()
	return l, err
}

// The ON CONFLICT branch sees the stored row as "leases" and the proposed
// one as "excluded"; its WHERE makes the takeover conditional, and all SET
// expressions read the old row, so term is bumped from the old holder.
const acquireLeaseUpsert = `
	ON CONFLICT (name) DO UPDATE SET
		term = CASE WHEN leases.holder = excluded.holder THEN leases.term ELSE leases.term + 1 END,
		holder = excluded.holder,
		expires_at = excluded.expires_at
	WHERE leases.holder = excluded.holder OR leases.holder = '' OR leases.expires_at <= %s
	RETURNING ` + leaseCols

func (s *sqlStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	what := fmt.Sprintf("acquire lease %s for %s", name, holder)
	if holder == "" {
		return Lease{}, fmt.Errorf("%s: empty holder", what)
	}
	if ttl <= 0 {
		return Lease{}, fmt.Errorf("%s: ttl %v is not positive", what, ttl)
	}
	var row *sql.Row
	if s.pg {
		row = s.w.QueryRowContext(ctx, `INSERT INTO leases (`+leaseCols+`)
			VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3))`+
			fmt.Sprintf(acquireLeaseUpsert, "clock_timestamp()"),
			name, holder, ttl.Seconds())
	} else {
		now := nowTS()
		row = s.w.QueryRowContext(ctx, `INSERT INTO leases (`+leaseCols+`)
			VALUES ($1, $2, 1, $3)`+fmt.Sprintf(acquireLeaseUpsert, "$4"),
			name, holder, ts(now.Add(ttl)), now)
	}
	l, err := scanLease(row)
	if errors.Is(err, sql.ErrNoRows) {
		// Someone else holds it: say who, for the logs.
		if cur, err := s.Lease(ctx, name); err == nil {
			return Lease{}, fmt.Errorf("%s: held by %s (term %d) until %s: %w",
				what, cur.Holder, cur.Term, cur.ExpiresAt.Format(time.RFC3339Nano), ErrConflict)
		}
		return Lease{}, fmt.Errorf("%s: %w", what, ErrConflict)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("%s: %w", what, err)
	}
	return l, nil
}

func (s *sqlStore) ReleaseLease(ctx context.Context, name, holder string) error {
	var err error
	if s.pg {
		_, err = s.w.ExecContext(ctx, `UPDATE leases SET holder = '', expires_at = clock_timestamp()
			WHERE name = $1 AND holder = $2`, name, holder)
	} else {
		_, err = s.w.ExecContext(ctx, `UPDATE leases SET holder = '', expires_at = $3
			WHERE name = $1 AND holder = $2`, name, holder, nowTS())
	}
	if err != nil {
		return fmt.Errorf("release lease %s for %s: %w", name, holder, err)
	}
	return nil
}

func (s *sqlStore) Lease(ctx context.Context, name string) (Lease, error) {
	return queryOne(ctx, s.r, "lease "+name, scanLease, "SELECT "+leaseCols+" FROM leases WHERE name = $1", name)
}

// CheckLease reads the lease row FOR SHARE on PostgreSQL: inside a
// transaction that lock makes a competing AcquireLease (which must lock
// the row to update it) wait until the transaction ends, so the term
// cannot change between the check and the writes after it. On SQLite a
// transaction holds the database's one write lock from its start, which
// AcquireLease needs too.
func (s *sqlStore) CheckLease(ctx context.Context, name string, term int64) error {
	var (
		got int64
		err error
	)
	if s.pg {
		err = s.r.QueryRowContext(ctx, `SELECT term FROM leases
			WHERE name = $1 AND term = $2 AND holder <> '' AND expires_at > clock_timestamp() FOR SHARE`,
			name, term).Scan(&got)
	} else {
		err = s.r.QueryRowContext(ctx, `SELECT term FROM leases
			WHERE name = $1 AND term = $2 AND holder <> '' AND expires_at > $3`,
			name, term, nowTS()).Scan(&got)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("lease %s at term %d: %w", name, term, ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("check lease %s at term %d: %w", name, term, err)
	}
	return nil
}
