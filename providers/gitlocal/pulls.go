package gitlocal

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mainline-cd/mainline/providers"
)

// CommitFiles makes one commit of files on top of base and points branch at
// it. It builds the commit in a temporary index (read-tree, hash-object,
// update-index, write-tree, commit-tree) and moves the branch with
// update-ref, so no work tree is involved. The branch is created or
// force-updated, as the interface asks. Files are written with mode 100644.
func (r *Repo) CommitFiles(ctx context.Context, branch, base, message string, files []providers.FileChange) (string, error) {
	if err := r.checkName(ctx, "refs/heads/", branch); err != nil {
		return "", fmt.Errorf("commit files: %w", err)
	}
	baseSHA, err := r.resolve(ctx, base)
	if err != nil {
		return "", fmt.Errorf("commit files on %s: %w", branch, err)
	}
	tmp, err := os.MkdirTemp("", "mainline-index-")
	if err != nil {
		return "", fmt.Errorf("commit files on %s: %w", branch, err)
	}
	defer os.RemoveAll(tmp)
	env := []string{"GIT_INDEX_FILE=" + filepath.Join(tmp, "index")}

	if _, err := r.run(ctx, env, nil, "read-tree", baseSHA); err != nil {
		return "", fmt.Errorf("commit files on %s: %w", branch, err)
	}
	var info strings.Builder
	for _, f := range files {
		p, err := cleanPath(f.Path)
		if err != nil {
			return "", fmt.Errorf("commit files on %s: %w", branch, err)
		}
		oid, err := r.line(ctx, nil, strings.NewReader(string(f.Content)), "hash-object", "-w", "--stdin")
		if err != nil {
			return "", fmt.Errorf("commit files on %s: write %s: %w", branch, p, err)
		}
		fmt.Fprintf(&info, "100644 %s\t%s\x00", oid, p)
	}
	if info.Len() > 0 {
		if _, err := r.run(ctx, env, strings.NewReader(info.String()), "update-index", "-z", "--add", "--index-info"); err != nil {
			return "", fmt.Errorf("commit files on %s: %w", branch, err)
		}
	}
	tree, err := r.line(ctx, env, nil, "write-tree")
	if err != nil {
		return "", fmt.Errorf("commit files on %s: %w", branch, err)
	}
	commit, err := r.line(ctx, nil, strings.NewReader(message), "commit-tree", "--no-gpg-sign", tree, "-p", baseSHA, "-F", "-")
	if err != nil {
		return "", fmt.Errorf("commit files on %s: %w", branch, err)
	}
	old, err := r.branchHead(ctx, branch)
	if err != nil {
		return "", fmt.Errorf("commit files on %s: %w", branch, err)
	}
	ref := "refs/heads/" + branch
	if _, err := r.run(ctx, nil, nil, "-c", refLockTimeout, "update-ref", "-m", "mainline: commit files", ref, commit); err != nil {
		return "", fmt.Errorf("commit files on %s: %w", branch, err)
	}
	r.notify(ctx, RefUpdate{Ref: ref, Old: old, New: commit})
	return commit, nil
}

// cleanPath returns p as a clean slash-separated path inside the tree.
func cleanPath(p string) (string, error) {
	c := path.Clean(strings.TrimPrefix(filepath.ToSlash(p), "/"))
	if c == "." || c == ".." || strings.HasPrefix(c, "../") || strings.ContainsAny(c, "\x00\n") || c == ".git" || strings.HasPrefix(c, ".git/") {
		return "", fmt.Errorf("invalid path %q", p)
	}
	return c, nil
}

func (r *Repo) pullURL(n int) string {
	return fmt.Sprintf("file://%s#pull-%d", filepath.ToSlash(r.commonDir), n)
}

func (r *Repo) toPull(p *pull) providers.PullRequest {
	return providers.PullRequest{
		Number:  p.Number,
		Title:   p.Title,
		Body:    p.Body,
		Head:    p.Head,
		Base:    p.Base,
		HeadSHA: p.HeadSHA,
		State:   p.State,
		Merged:  p.Merged,
		URL:     r.pullURL(p.Number),
	}
}

// OpenPullRequest records an open pull request of pr.Head into pr.Base. Both
// branches must exist; a second open pull request for the same pair is an
// error wrapping providers.ErrExists.
func (r *Repo) OpenPullRequest(ctx context.Context, pr providers.PullRequest) (providers.PullRequest, error) {
	if pr.Head == pr.Base {
		return providers.PullRequest{}, fmt.Errorf("open pull request: head and base are both %q", pr.Head)
	}
	headSHA, err := r.HeadSHA(ctx, pr.Head)
	if err != nil {
		return providers.PullRequest{}, fmt.Errorf("open pull request: %w", err)
	}
	if _, err := r.HeadSHA(ctx, pr.Base); err != nil {
		return providers.PullRequest{}, fmt.Errorf("open pull request: %w", err)
	}
	var out providers.PullRequest
	err = r.withRecord(ctx, true, func(rec *record) error {
		for _, p := range rec.Pulls {
			if p.State == "open" && p.Head == pr.Head && p.Base == pr.Base {
				return fmt.Errorf("open pull request: #%d from %s into %s: %w", p.Number, p.Head, p.Base, providers.ErrExists)
			}
		}
		now := r.clock.Now().UTC()
		rec.NextPull++
		p := &pull{
			Number:    rec.NextPull,
			Title:     pr.Title,
			Body:      pr.Body,
			Head:      pr.Head,
			Base:      pr.Base,
			State:     "open",
			HeadSHA:   headSHA,
			CreatedAt: now,
			UpdatedAt: now,
		}
		rec.Pulls = append(rec.Pulls, p)
		out = r.toPull(p)
		return nil
	})
	return out, err
}

// PullRequest returns pull request number, with its head SHA as of now if it
// is open.
func (r *Repo) PullRequest(ctx context.Context, number int) (providers.PullRequest, error) {
	var p pull
	err := r.withRecord(ctx, false, func(rec *record) error {
		found, err := rec.pull(number)
		if err != nil {
			return err
		}
		p = *found
		return nil
	})
	if err != nil {
		return providers.PullRequest{}, err
	}
	if err := r.liveHead(ctx, &p); err != nil {
		return providers.PullRequest{}, err
	}
	return r.toPull(&p), nil
}

// liveHead refreshes an open pull request's head SHA from its branch.
func (r *Repo) liveHead(ctx context.Context, p *pull) error {
	if p.State != "open" {
		return nil
	}
	sha, err := r.branchHead(ctx, p.Head)
	if err != nil {
		return fmt.Errorf("pull request %d: %w", p.Number, err)
	}
	if sha != "" {
		p.HeadSHA = sha
	}
	return nil
}

// UpdatePullRequest sets the title and body of pull request number.
func (r *Repo) UpdatePullRequest(ctx context.Context, number int, title, body string) error {
	return r.withRecord(ctx, true, func(rec *record) error {
		p, err := rec.pull(number)
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		p.Title, p.Body = title, body
		p.UpdatedAt = r.clock.Now().UTC()
		return nil
	})
}

// PullRequestsFrom lists the open pull requests whose head is branch.
func (r *Repo) PullRequestsFrom(ctx context.Context, branch string) ([]providers.PullRequest, error) {
	var open []pull
	err := r.withRecord(ctx, false, func(rec *record) error {
		for _, p := range rec.Pulls {
			if p.State == "open" && p.Head == branch {
				open = append(open, *p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pull requests from %s: %w", branch, err)
	}
	out := make([]providers.PullRequest, 0, len(open))
	for i := range open {
		if err := r.liveHead(ctx, &open[i]); err != nil {
			return nil, err
		}
		out = append(out, r.toPull(&open[i]))
	}
	return out, nil
}

// MergePullRequest squash-merges pull request number into its base if its
// head is still sha, and returns the new commit on the base branch.
//
// The merge is made without a work tree: git merge-tree --write-tree
// computes the merged tree, commit-tree makes a commit with the base as its
// only parent, and update-ref moves the base only if it still points where
// it pointed before, so a concurrent push is never overwritten. update-ref
// runs no hooks: a post-receive hook does not see the merge. Callers that
// learn about pushes from hooks must wake the controller themselves (see
// OnRefUpdate).
func (r *Repo) MergePullRequest(ctx context.Context, number int, sha, message string) (string, error) {
	var update RefUpdate
	err := r.withRecord(ctx, true, func(rec *record) error {
		p, err := rec.pull(number)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		if p.State != "open" {
			return fmt.Errorf("merge pull request %d: it is %s", number, p.State)
		}
		head, err := r.HeadSHA(ctx, p.Head)
		if err != nil {
			return fmt.Errorf("merge pull request %d: %w", number, err)
		}
		if head != sha {
			return fmt.Errorf("merge pull request %d: head branch %s was modified: it is at %s, not %s", number, p.Head, head, sha)
		}
		base, err := r.HeadSHA(ctx, p.Base)
		if err != nil {
			return fmt.Errorf("merge pull request %d: %w", number, err)
		}
		out, err := r.run(ctx, nil, nil, "merge-tree", "--write-tree", "--no-messages", base, head)
		if err != nil {
			if exitCode(err) == 1 {
				return fmt.Errorf("merge pull request %d: %s and %s conflict", number, p.Base, p.Head)
			}
			return fmt.Errorf("merge pull request %d: %w", number, err)
		}
		tree, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		msg := fmt.Sprintf("%s (#%d)", p.Title, number)
		if message != "" {
			msg += "\n\n" + message
		}
		commit, err := r.line(ctx, nil, strings.NewReader(msg), "commit-tree", "--no-gpg-sign", tree, "-p", base, "-F", "-")
		if err != nil {
			return fmt.Errorf("merge pull request %d: %w", number, err)
		}
		ref := "refs/heads/" + p.Base
		if _, err := r.run(ctx, nil, nil, "-c", refLockTimeout, "update-ref", "-m", fmt.Sprintf("mainline: merge pull request #%d", number), ref, commit, base); err != nil {
			return fmt.Errorf("merge pull request %d: %s moved while merging: %w", number, p.Base, err)
		}
		p.State = "closed"
		p.Merged = true
		p.MergeSHA = commit
		p.HeadSHA = head
		p.UpdatedAt = r.clock.Now().UTC()
		update = RefUpdate{Ref: ref, Old: base, New: commit}
		return nil
	})
	if err != nil {
		return "", err
	}
	r.notify(ctx, update)
	return update.New, nil
}

// ClosePullRequest closes pull request number unmerged and records comment.
func (r *Repo) ClosePullRequest(ctx context.Context, number int, comment string) error {
	return r.withRecord(ctx, true, func(rec *record) error {
		p, err := rec.pull(number)
		if err != nil {
			return fmt.Errorf("close: %w", err)
		}
		if err := r.liveHead(ctx, p); err != nil {
			return err
		}
		if comment != "" {
			p.Comments = append(p.Comments, comment)
		}
		p.State = "closed"
		p.UpdatedAt = r.clock.Now().UTC()
		return nil
	})
}

// Comments returns the comments left on pull request number.
func (r *Repo) Comments(ctx context.Context, number int) ([]string, error) {
	var out []string
	err := r.withRecord(ctx, false, func(rec *record) error {
		p, err := rec.pull(number)
		if err != nil {
			return err
		}
		out = slices.Clone(p.Comments)
		return nil
	})
	return out, err
}

func validCommitState(s providers.CommitState) bool {
	switch s {
	case providers.StatePending, providers.StateSuccess, providers.StateFailure, providers.StateError:
		return true
	}
	return false
}

// SetCommitStatus records s on commit sha, replacing any earlier status with
// the same context (an empty context is "default", as on GitHub).
func (r *Repo) SetCommitStatus(ctx context.Context, sha string, s providers.CommitStatus) error {
	if !validCommitState(s.State) {
		return fmt.Errorf("set status on %s: invalid state %q", sha, s.State)
	}
	commit, err := r.resolve(ctx, sha)
	if err != nil {
		return fmt.Errorf("set status: %w", err)
	}
	if s.Context == "" {
		s.Context = "default"
	}
	return r.withRecord(ctx, true, func(rec *record) error {
		st := &commitStatus{State: s.State, Context: s.Context, Description: s.Description, TargetURL: s.TargetURL, UpdatedAt: r.clock.Now().UTC()}
		list := rec.Statuses[commit]
		i := slices.IndexFunc(list, func(c *commitStatus) bool { return c.Context == s.Context })
		if i >= 0 {
			list[i] = st
		} else {
			list = append(list, st)
		}
		rec.Statuses[commit] = list
		return nil
	})
}

// CommitStatuses returns the latest status of each context on the commit
// ref names.
func (r *Repo) CommitStatuses(ctx context.Context, ref string) ([]providers.CommitStatus, error) {
	commit, err := r.resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("statuses: %w", err)
	}
	var out []providers.CommitStatus
	err = r.withRecord(ctx, false, func(rec *record) error {
		for _, s := range rec.Statuses[commit] {
			out = append(out, providers.CommitStatus{State: s.State, Context: s.Context, Description: s.Description, TargetURL: s.TargetURL})
		}
		return nil
	})
	return out, err
}

// CombinedStatus returns the combined state of the statuses on the commit
// ref names: failure if any is failure or error, pending if any is pending
// or there are none, success if all are success. Local repositories have no
// check runs.
func (r *Repo) CombinedStatus(ctx context.Context, ref string) (providers.CommitState, error) {
	statuses, err := r.CommitStatuses(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("combined status of %s: %w", ref, err)
	}
	return combine(statuses), nil
}

func combine(statuses []providers.CommitStatus) providers.CommitState {
	if len(statuses) == 0 {
		return providers.StatePending
	}
	state := providers.StateSuccess
	for _, s := range statuses {
		switch s.State {
		case providers.StateFailure, providers.StateError:
			return providers.StateFailure
		case providers.StatePending:
			state = providers.StatePending
		}
	}
	return state
}

// CreateDeployment records a deployment of ref to environment and returns
// its id.
func (r *Repo) CreateDeployment(ctx context.Context, ref, environment, description string) (int64, error) {
	commit, err := r.resolve(ctx, ref)
	if err != nil {
		return 0, fmt.Errorf("create deployment: %w", err)
	}
	if environment == "" {
		environment = "production" // GitHub's default
	}
	var id int64
	err = r.withRecord(ctx, true, func(rec *record) error {
		rec.NextDeployment++
		id = rec.NextDeployment
		rec.Deployments = append(rec.Deployments, &Deployment{
			ID:          id,
			Ref:         ref,
			SHA:         commit,
			Environment: environment,
			Description: description,
			CreatedAt:   r.clock.Now().UTC(),
		})
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// deploymentStates are the states GitHub accepts for a deployment status.
var deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

// SetDeploymentStatus appends a status to deployment id.
func (r *Repo) SetDeploymentStatus(ctx context.Context, id int64, state, environmentURL, description string) error {
	if !slices.Contains(deploymentStates, state) {
		return fmt.Errorf("deployment %d: invalid state %q", id, state)
	}
	return r.withRecord(ctx, true, func(rec *record) error {
		d, err := rec.deployment(id)
		if err != nil {
			return err
		}
		d.Statuses = append(d.Statuses, DeploymentStatus{State: state, EnvironmentURL: environmentURL, Description: description, CreatedAt: r.clock.Now().UTC()})
		return nil
	})
}

// Deployment returns deployment id with its statuses.
func (r *Repo) Deployment(ctx context.Context, id int64) (Deployment, error) {
	var out Deployment
	err := r.withRecord(ctx, false, func(rec *record) error {
		d, err := rec.deployment(id)
		if err != nil {
			return err
		}
		out = *d
		out.Statuses = slices.Clone(d.Statuses)
		return nil
	})
	return out, err
}
