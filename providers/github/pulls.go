package github

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/providers"
)

// CommitFiles makes one commit of files on top of base with the git data API
// (blobs, a tree on base's tree, a commit) and points branch at it, creating
// the branch or force-updating it.
func (r *Repo) CommitFiles(ctx context.Context, branch, base, message string, files []providers.FileChange) (string, error) {
	baseCommit, _, err := r.client.Repositories.GetCommit(ctx, r.owner, r.name, base, nil)
	if err != nil {
		return "", fmt.Errorf("commit files on %s: base %s: %w", branch, base, apiError(err))
	}
	baseSHA := baseCommit.GetSHA()
	entries := make([]*gh.TreeEntry, 0, len(files))
	for _, f := range files {
		blob, _, err := r.client.Git.CreateBlob(ctx, r.owner, r.name, &gh.Blob{
			Content:  gh.String(base64.StdEncoding.EncodeToString(f.Content)),
			Encoding: gh.String("base64"),
		})
		if err != nil {
			return "", fmt.Errorf("commit files on %s: blob %s: %w", branch, f.Path, apiError(err))
		}
		entries = append(entries, &gh.TreeEntry{
			Path: gh.String(strings.TrimPrefix(f.Path, "/")), Mode: gh.String("100644"), Type: gh.String("blob"), SHA: blob.SHA,
		})
	}
	tree, _, err := r.client.Git.CreateTree(ctx, r.owner, r.name, baseCommit.GetCommit().GetTree().GetSHA(), entries)
	if err != nil {
		return "", fmt.Errorf("commit files on %s: tree: %w", branch, apiError(err))
	}
	commit, _, err := r.client.Git.CreateCommit(ctx, r.owner, r.name, &gh.Commit{
		Message: gh.String(message),
		Tree:    &gh.Tree{SHA: tree.SHA},
		Parents: []*gh.Commit{{SHA: gh.String(baseSHA)}},
	}, nil)
	if err != nil {
		return "", fmt.Errorf("commit files on %s: commit: %w", branch, apiError(err))
	}
	if err := r.setBranch(ctx, branch, commit.GetSHA()); err != nil {
		return "", fmt.Errorf("commit files on %s: %w", branch, err)
	}
	return commit.GetSHA(), nil
}

// setBranch force-updates branch to sha, creating it if it does not exist.
func (r *Repo) setBranch(ctx context.Context, branch, sha string) error {
	ref := &gh.Reference{Ref: gh.String("refs/heads/" + branch), Object: &gh.GitObject{SHA: gh.String(sha)}}
	for range 2 {
		_, _, err := r.client.Git.UpdateRef(ctx, r.owner, r.name, ref, true)
		if err == nil {
			return nil
		}
		if !isStatus(err, http.StatusUnprocessableEntity) || !strings.Contains(errorText(err), "does not exist") {
			return apiError(err)
		}
		_, _, err = r.client.Git.CreateRef(ctx, r.owner, r.name, ref)
		if err == nil {
			return nil
		}
		if !errors.Is(apiError(err), providers.ErrExists) {
			return apiError(err)
		}
		// Created by someone else in between: update it after all.
	}
	return fmt.Errorf("branch %s keeps appearing and disappearing", branch)
}

func isStatus(err error, code int) bool {
	var er *gh.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == code
}

func errorText(err error) string {
	var er *gh.ErrorResponse
	if !errors.As(err, &er) {
		return ""
	}
	s := er.Message
	for _, e := range er.Errors {
		s += "; " + e.Message
	}
	return s
}

func toPull(p *gh.PullRequest) providers.PullRequest {
	return providers.PullRequest{
		Number:  p.GetNumber(),
		Title:   p.GetTitle(),
		Body:    p.GetBody(),
		Head:    p.GetHead().GetRef(),
		Base:    p.GetBase().GetRef(),
		HeadSHA: p.GetHead().GetSHA(),
		State:   p.GetState(),
		Merged:  p.GetMerged() || p.MergedAt != nil,
		URL:     p.GetHTMLURL(),
	}
}

// OpenPullRequest opens pr. A second open pull request from the same head
// into the same base is an error wrapping providers.ErrExists.
func (r *Repo) OpenPullRequest(ctx context.Context, pr providers.PullRequest) (providers.PullRequest, error) {
	p, _, err := r.client.PullRequests.Create(ctx, r.owner, r.name, &gh.NewPullRequest{
		Title: gh.String(pr.Title), Body: gh.String(pr.Body), Head: gh.String(pr.Head), Base: gh.String(pr.Base),
	})
	if err != nil {
		return providers.PullRequest{}, fmt.Errorf("open pull request from %s: %w", pr.Head, apiError(err))
	}
	return toPull(p), nil
}

// UpdatePullRequest sets the title and body of pull request number.
func (r *Repo) UpdatePullRequest(ctx context.Context, number int, title, body string) error {
	_, _, err := r.client.PullRequests.Edit(ctx, r.owner, r.name, number, &gh.PullRequest{Title: gh.String(title), Body: gh.String(body)})
	if err != nil {
		return fmt.Errorf("update pull request %d: %w", number, apiError(err))
	}
	return nil
}

// PullRequestsFrom lists the open pull requests whose head is branch of
// this repository.
func (r *Repo) PullRequestsFrom(ctx context.Context, branch string) ([]providers.PullRequest, error) {
	opts := &gh.PullRequestListOptions{State: "open", Head: r.owner + ":" + branch, ListOptions: gh.ListOptions{PerPage: 100}}
	var out []providers.PullRequest
	for {
		page, resp, err := r.client.PullRequests.List(ctx, r.owner, r.name, opts)
		if err != nil {
			return nil, fmt.Errorf("pull requests from %s: %w", branch, apiError(err))
		}
		for _, p := range page {
			out = append(out, toPull(p))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// MergePullRequest squash-merges pull request number if its head is still
// sha; GitHub refuses with 409 otherwise.
func (r *Repo) MergePullRequest(ctx context.Context, number int, sha, message string) (string, error) {
	res, _, err := r.client.PullRequests.Merge(ctx, r.owner, r.name, number, message, &gh.PullRequestOptions{SHA: sha, MergeMethod: "squash"})
	if err != nil {
		switch {
		case isStatus(err, http.StatusConflict):
			return "", fmt.Errorf("merge pull request %d: head is no longer %s: %w", number, sha, err)
		case isStatus(err, http.StatusMethodNotAllowed):
			return "", fmt.Errorf("merge pull request %d: not mergeable: %w", number, err)
		}
		return "", fmt.Errorf("merge pull request %d: %w", number, apiError(err))
	}
	if !res.GetMerged() {
		return "", fmt.Errorf("merge pull request %d: not merged: %s", number, res.GetMessage())
	}
	return res.GetSHA(), nil
}

// ClosePullRequest leaves comment on pull request number, then closes it.
func (r *Repo) ClosePullRequest(ctx context.Context, number int, comment string) error {
	if comment != "" {
		if _, _, err := r.client.Issues.CreateComment(ctx, r.owner, r.name, number, &gh.IssueComment{Body: gh.String(comment)}); err != nil {
			return fmt.Errorf("close pull request %d: comment: %w", number, apiError(err))
		}
	}
	if _, _, err := r.client.PullRequests.Edit(ctx, r.owner, r.name, number, &gh.PullRequest{State: gh.String("closed")}); err != nil {
		return fmt.Errorf("close pull request %d: %w", number, apiError(err))
	}
	return nil
}
