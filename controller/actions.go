package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/mainline-cd/mainline/controller/store"
)

// HistoryStore is what PreviousGoodVersion reads.
type HistoryStore interface {
	VerifyRuns(ctx context.Context, projectID int64, limit int) ([]store.VerifyRun, error)
	Rejections(ctx context.Context, projectID int64) ([]store.Rejection, error)
	DesiredStates(ctx context.Context, projectID int64) ([]store.Desired, error)
	Build(ctx context.Context, projectID int64, name, version string) (store.Build, error)
}

// PreviousGoodVersion chooses where a user's rollback of a project from
// current goes: as the automatic rollback does, the newest version older
// than current that completed a rollout and passed verification (or had no
// suite), is not rejected and still has a succeeded build for every build
// the project desires. It returns "" when there is none.
func PreviousGoodVersion(ctx context.Context, st HistoryStore, projectID int64, current string) (string, error) {
	ds, err := st.DesiredStates(ctx, projectID)
	if err != nil {
		return "", fmt.Errorf("list desired states: %w", err)
	}
	return previousGood(ctx, st, projectID, current, func(v string) (bool, error) {
		for _, d := range ds {
			b, err := st.Build(ctx, projectID, d.Build, v)
			if errors.Is(err, store.ErrNotFound) {
				return false, nil
			}
			if err != nil {
				return false, fmt.Errorf("load build %s@%s: %w", d.Build, v, err)
			}
			if b.Status != store.BuildSucceeded {
				return false, nil
			}
		}
		return true, nil
	})
}
