package controller

import (
	"context"
	"fmt"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy"
)

// historyStore is what previousGood reads.
type historyStore interface {
	VerifyRuns(ctx context.Context, projectID int64, limit int) ([]store.VerifyRun, error)
	Rejections(ctx context.Context, projectID int64) ([]store.Rejection, error)
}

// previousGood returns the version a project goes back to from current:
// the newest version older than current that completed a rollout and
// passed verification (or had no suite), is not rejected, and for which
// usable (when given) reports true; "" when there is none.
func previousGood(ctx context.Context, st historyStore, projectID int64, current string, usable func(string) (bool, error)) (string, error) {
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
	for {
		v, ok := deploy.PreviousGood(history, rejected, current)
		if !ok {
			return "", nil
		}
		if usable == nil {
			return v, nil
		}
		ok, err := usable(v)
		if err != nil {
			return "", err
		}
		if ok {
			return v, nil
		}
		rejected[v] = true
	}
}
