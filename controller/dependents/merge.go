package dependents

import (
	"context"
	"fmt"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers"
)

// MergeIfGreen looks at the project's open dependency pull request and,
// when automerge is on and the combined status of its head is green,
// merges it (guarded by that head, so a commit pushed meanwhile is not
// merged unchecked). Red checks record an event and a notification once,
// as Run does; pending ones leave it be. It searches no upgrades and runs
// no checks, so it is cheap enough to call whenever a pull_request,
// check_suite, check_run or status webhook arrives for the repository,
// and from the scheduler's refresh as a fallback for webhooks that never
// came. A project without an open dependency pull request is a no-op.
func (d *Day) MergeIfGreen(ctx context.Context, projectName string) (merged bool, err error) {
	p, err := d.Store.ProjectByName(ctx, projectName)
	if err != nil {
		return false, fmt.Errorf("dependents: project %s: %w", projectName, err)
	}
	r := d.load(ctx, p)
	if r.err != nil {
		return false, fmt.Errorf("dependents: project %s: %w", projectName, r.err)
	}
	if r.skip != "" || !r.cfg.Dependencies.Automerge {
		return false, nil
	}
	open, err := r.prs.PullRequestsFrom(ctx, Branch)
	if err != nil {
		return false, fmt.Errorf("dependents: project %s: open pull requests: %w", projectName, err)
	}
	var pr *providers.PullRequest
	for i := range open {
		if open[i].Base == r.branch && open[i].State != "closed" && !open[i].Merged {
			pr = &open[i]
			break
		}
	}
	if pr == nil || pr.HeadSHA == "" {
		return false, nil
	}
	state, err := r.prs.CombinedStatus(ctx, pr.HeadSHA)
	if err != nil {
		return false, fmt.Errorf("dependents: project %s: status of #%d: %w", projectName, pr.Number, err)
	}
	prev := d.storedPR(ctx, p.ID, pr.Number)
	record := store.DependencyPR{ProjectID: p.ID, Number: pr.Number, Branch: Branch, Title: pr.Title, State: "open", Checks: string(providers.StatePending), URL: pr.URL}
	switch state {
	case providers.StateFailure, providers.StateError:
		record.Checks = string(providers.StateFailure)
		if prev.Checks != string(providers.StateFailure) {
			d.event(ctx, p, EventRed, "checks of #%d are red; left open: %s", pr.Number, pr.URL)
			d.notify(ctx, p, EventRed, fmt.Sprintf("Checks of dependency pull request #%d are red", pr.Number), pr.URL)
		}
	case providers.StateSuccess:
		record.Checks = string(providers.StateSuccess)
		sha, err := r.prs.MergePullRequest(ctx, pr.Number, pr.HeadSHA, pr.Title)
		if err != nil {
			return false, fmt.Errorf("dependents: project %s: merge #%d: %w", projectName, pr.Number, err)
		}
		merged = true
		record.State = "merged"
		d.event(ctx, p, EventMerged, "merged #%d (%s) as %s: checks green", pr.Number, pr.Title, short(sha))
	default:
		if prev.Number == pr.Number && prev.Checks == record.Checks && prev.State == "open" {
			return false, nil
		}
	}
	record.UpdatedAt = d.clock().Now().UTC()
	d.putPR(ctx, record)
	return merged, nil
}

// MergeOpen calls MergeIfGreen for every project whose dependency pull
// request the store holds as open, and says how many it merged. Failures
// of one project are logged and do not stop the others.
func (d *Day) MergeOpen(ctx context.Context) (int, error) {
	ps, err := d.Store.Projects(ctx)
	if err != nil {
		return 0, fmt.Errorf("dependents: list projects: %w", err)
	}
	n := 0
	for _, p := range ps {
		if !d.HasOpenPR(ctx, p.ID) {
			continue
		}
		merged, err := d.MergeIfGreen(ctx, p.Name)
		if err != nil {
			d.logger().Warn("merge dependency pull request", "project", p.Name, "err", err)
			continue
		}
		if merged {
			n++
		}
	}
	return n, ctx.Err()
}

// HasOpenPR reports whether the store holds an open dependency pull
// request of the project, so callers can skip MergeIfGreen's repository
// reads for the many projects that have none.
func (d *Day) HasOpenPR(ctx context.Context, projectID int64) bool {
	prs, err := d.Store.DependencyPRs(ctx, projectID)
	if err != nil {
		return false
	}
	for _, pr := range prs {
		if pr.State == "open" {
			return true
		}
	}
	return false
}
