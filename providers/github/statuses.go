package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/providers"
)

// maxDescription is GitHub's limit on a status description.
const maxDescription = 140

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// SetCommitStatus sets status s on commit sha.
func (r *Repo) SetCommitStatus(ctx context.Context, sha string, s providers.CommitStatus) error {
	st := &gh.RepoStatus{
		State:       gh.String(string(s.State)),
		Context:     gh.String(s.Context),
		Description: gh.String(truncate(s.Description, maxDescription)),
	}
	if s.TargetURL != "" {
		st.TargetURL = gh.String(s.TargetURL)
	}
	if _, _, err := r.client.Repositories.CreateStatus(ctx, r.owner, r.name, sha, st); err != nil {
		return fmt.Errorf("set status %s on %s: %w", s.Context, sha, apiError(err))
	}
	return nil
}

// CombinedStatus combines GitHub's combined commit status with the check
// runs on ref: failure if any status or check run failed, pending if any is
// still running or there is none at all, success otherwise. Both reads are
// conditional, so polling an unchanged ref costs no rate limit.
func (r *Repo) CombinedStatus(ctx context.Context, ref string) (providers.CommitState, error) {
	var combined gh.CombinedStatus
	if err := r.getJSON(ctx, fmt.Sprintf("repos/%s/%s/commits/%s/status?per_page=100", r.owner, r.name, escapeRef(ref)), &combined); err != nil {
		return "", fmt.Errorf("combined status of %s: %w", ref, err)
	}
	var checks gh.ListCheckRunsResults
	if err := r.getJSON(ctx, fmt.Sprintf("repos/%s/%s/commits/%s/check-runs?per_page=100", r.owner, r.name, escapeRef(ref)), &checks); err != nil {
		return "", fmt.Errorf("check runs of %s: %w", ref, err)
	}
	failed, pending, seen := false, false, false
	// With no statuses GitHub says "pending"; that only counts when there
	// are no check runs either (repositories on Actions have none).
	if combined.GetTotalCount() > 0 {
		seen = true
		switch combined.GetState() {
		case "failure", "error":
			failed = true
		case "pending":
			pending = true
		}
	}
	for _, c := range checks.CheckRuns {
		seen = true
		if c.GetStatus() != "completed" {
			pending = true
			continue
		}
		switch c.GetConclusion() {
		case "success", "neutral", "skipped":
		default: // failure, timed_out, cancelled, action_required, stale, …
			failed = true
		}
	}
	switch {
	case failed:
		return providers.StateFailure, nil
	case pending || !seen:
		return providers.StatePending, nil
	}
	return providers.StateSuccess, nil
}

// CreateDeployment records a deployment of ref to environment. Mainline
// deploys what it has already built and verified, so GitHub is asked
// neither to merge the default branch in (auto_merge) nor to check commit
// statuses (required_contexts).
func (r *Repo) CreateDeployment(ctx context.Context, ref, environment, description string) (int64, error) {
	d, _, err := r.client.Repositories.CreateDeployment(ctx, r.owner, r.name, &gh.DeploymentRequest{
		Ref:              gh.String(ref),
		Environment:      gh.String(environment),
		Description:      gh.String(description),
		AutoMerge:        gh.Bool(false),
		RequiredContexts: &[]string{},
	})
	if err != nil {
		return 0, fmt.Errorf("create deployment of %s to %s: %w", ref, environment, apiError(err))
	}
	return d.GetID(), nil
}

// SetDeploymentStatus adds a status to deployment id.
func (r *Repo) SetDeploymentStatus(ctx context.Context, id int64, state, environmentURL, description string) error {
	req := &gh.DeploymentStatusRequest{State: gh.String(state), Description: gh.String(truncate(description, maxDescription))}
	if environmentURL != "" {
		req.EnvironmentURL = gh.String(environmentURL)
	}
	if _, _, err := r.client.Repositories.CreateDeploymentStatus(ctx, r.owner, r.name, id, req); err != nil {
		return fmt.Errorf("set deployment %d to %s: %w", id, state, apiError(err))
	}
	return nil
}
