package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy"
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
	runs, err := st.VerifyRuns(ctx, projectID, 500)
	if err != nil {
		return "", fmt.Errorf("list verification runs: %w", err)
	}
	var history []deploy.Release
	for _, vr := range runs {
		if vr.Status == RunPassed || vr.Status == RunSkipped {
			history = append(history, deploy.Release{Version: vr.Version, At: vr.FinishedAt})
		}
	}
	rs, err := st.Rejections(ctx, projectID)
	if err != nil {
		return "", fmt.Errorf("list rejected versions: %w", err)
	}
	rejected := map[string]bool{}
	for _, r := range rs {
		rejected[r.Version] = true
	}
	ds, err := st.DesiredStates(ctx, projectID)
	if err != nil {
		return "", fmt.Errorf("list desired states: %w", err)
	}
	for {
		v, ok := deploy.PreviousGood(history, rejected, current)
		if !ok {
			return "", nil
		}
		usable := true
		for _, d := range ds {
			b, err := st.Build(ctx, projectID, d.Build, v)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", fmt.Errorf("load build %s@%s: %w", d.Build, v, err)
			}
			usable = usable && err == nil && b.Status == store.BuildSucceeded
		}
		if usable {
			return v, nil
		}
		rejected[v] = true
	}
}
