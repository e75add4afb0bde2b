// Package gitlocal implements the providers SCM interfaces over a local git
// repository by running the git command-line tool.
//
// It is what `mainline demo`, self-hosted mirrors and most tests use: a bare
// repository (the demo's origin) or a non-bare one, real git all the way
// down. Everything Mainline writes — tags, commits of changed files, merges —
// is made with git plumbing against a temporary index, never a work tree, so
// it works on bare repositories and never touches a user's checkout.
//
// Git has no pull requests, commit statuses or deployments. This package
// keeps them as a small JSON record beside the repository, in
// <git-common-dir>/mainline/pulls.json, written atomically (temporary file
// and rename) under a file lock so that several processes can share it.
//
// Refs Mainline moves itself (CommitFiles, MergePullRequest) are moved with
// git update-ref, which does not run the repository's hooks: no
// post-receive hook fires. A caller that relies on a hook to learn about
// pushes (the demo turns pushes into webhooks) must wake the controller
// itself; the OnRefUpdate option is the place to do that.
//
// Imported by cmd/mainline (the demo and `project add --git`) and by tests.
package gitlocal
