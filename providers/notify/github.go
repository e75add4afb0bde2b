package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mainline-cd/mainline/providers"
)

var _ providers.Notifier = (*GitHub)(nil)

// maxDeployments bounds how many rollouts a GitHub notifier remembers.
const maxDeployments = 512

// GitHub reports rollouts on the repository: a deployment per rollout with
// its status (GitHub's Deployments API), and a commit status on the commit
// deployed. It uses whichever of providers.Deployments and
// providers.StatusSetter the SCM offers and does nothing with an SCM that
// offers neither, so it works with providers/github and providers/gitlocal
// alike.
//
// Kinds map as follows; other kinds are ignored:
//
//	deploy_started   deployment created, in_progress; status pending
//	deploy_finished  deployment success, with the environment URL; status success
//	verify_failed    deployment failure; status failure
//	rolled_back      deployment failure; status failure
//
// The deployment id of each (project, version) is kept in memory only: a
// controller restarted mid-rollout forgets it, and the next notification
// for that version creates a new deployment and sets its status there.
// Build and verification statuses ("mainline/build/…", "mainline/verify")
// are the controller's own; this notifier sets only StatusContext.
type GitHub struct {
	// SCM is the repository of every project notified, for a notifier
	// bound to one repository.
	SCM providers.SCM
	// Open, when SCM is nil, returns the repository of a project, so that
	// one notifier can serve every project.
	Open func(ctx context.Context, project string) (providers.SCM, error)
	// Environment names the deployments' environment; empty is
	// "production".
	Environment string
	// StatusContext names the commit status; empty is "mainline/deploy".
	StatusContext string

	mu          sync.Mutex
	deployments map[deployKey]*deployment
	order       []deployKey // oldest first, for forgetting
}

type deployKey struct{ project, version string }

type deployment struct {
	id    int64
	state string // the last status set, "" before the first
}

// states maps a kind to the deployment state and the commit state; ok is
// false for kinds this notifier ignores.
func states(kind string) (deploy string, commit providers.CommitState, ok bool) {
	switch kind {
	case "deploy_started":
		return "in_progress", providers.StatePending, true
	case "deploy_finished":
		return "success", providers.StateSuccess, true
	case "verify_failed", "rolled_back":
		return "failure", providers.StateFailure, true
	}
	return "", "", false
}

// Notify records n on the repository. A notification without a version
// or commit SHA records no deployment, one without a SHA no commit status.
func (g *GitHub) Notify(ctx context.Context, n providers.Notification) error {
	deployState, commitState, ok := states(n.Kind)
	if !ok {
		return nil
	}
	scm := g.SCM
	if scm == nil {
		if g.Open == nil {
			return fmt.Errorf("github: %s %s: no SCM and no Open", n.Kind, n.Project)
		}
		var err error
		if scm, err = g.Open(ctx, n.Project); err != nil {
			return fmt.Errorf("github: %s %s: open repository: %w", n.Kind, n.Project, err)
		}
	}
	var errs []error
	if d, ok := scm.(providers.Deployments); ok && (n.Version != "" || n.SHA != "") {
		if err := g.deploy(ctx, d, n, deployState); err != nil {
			errs = append(errs, err)
		}
	}
	if s, ok := scm.(providers.StatusSetter); ok && n.SHA != "" {
		ctxName := g.StatusContext
		if ctxName == "" {
			ctxName = "mainline/deploy"
		}
		err := s.SetCommitStatus(ctx, n.SHA, providers.CommitStatus{
			State: commitState, Context: ctxName, Description: oneLine(n.Message), TargetURL: n.URL,
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("github: %s %s %s: %w", n.Kind, n.Project, n.Version, err)
	}
	return nil
}

// deploy sets state on the deployment of n's version, creating it first
// when this notifier has not seen the version. A state already set is not
// set again: a failed verification is followed by its rollback, and that
// is one failure.
func (g *GitHub) deploy(ctx context.Context, d providers.Deployments, n providers.Notification, state string) error {
	// Held across the API calls so that two notifications of one rollout
	// never create two deployments; Retrying sends them one at a time
	// anyway.
	g.mu.Lock()
	defer g.mu.Unlock()
	key := deployKey{n.Project, firstNonEmpty(n.Version, n.SHA)}
	dep := g.deployments[key]
	if dep == nil {
		ref := firstNonEmpty(n.SHA, n.Version) // the exact commit when known, else the tag
		env := g.Environment
		if env == "" {
			env = "production"
		}
		id, err := d.CreateDeployment(ctx, ref, env, firstNonEmpty(n.Version, ref))
		if err != nil {
			return err
		}
		dep = &deployment{id: id}
		g.remember(key, dep)
	}
	if dep.state == state {
		return nil
	}
	if err := d.SetDeploymentStatus(ctx, dep.id, state, n.EnvironmentURL, oneLine(n.Message)); err != nil {
		return err
	}
	dep.state = state
	return nil
}

// remember keeps dep under key, forgetting the oldest rollouts beyond
// maxDeployments.
func (g *GitHub) remember(key deployKey, dep *deployment) {
	if g.deployments == nil {
		g.deployments = make(map[deployKey]*deployment)
	}
	g.deployments[key] = dep
	g.order = append(g.order, key)
	for len(g.order) > maxDeployments {
		delete(g.deployments, g.order[0])
		g.order = g.order[1:]
	}
}
