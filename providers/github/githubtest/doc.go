// Package githubtest is a fake of the GitHub REST API for tests: one
// httptest server, under a base path, that keeps real in-memory state and
// speaks GitHub's JSON shapes and status codes, driven through the real
// go-github client. It is the one GitHub fake of the repository; tests of
// providers/github, webhooks and dependents day reuse it.
//
// # Use
//
//	srv := githubtest.New(t)
//	repo := srv.AddRepo("acme", "shop", "main")
//	sha := repo.Commit("main", "initial", map[string]string{".mainline.yaml": "builds: []\n"})
//	client := srv.Client() // a *github.Client whose BaseURL is srv.BaseURL()
//
// # What it models
//
// Repositories (GET /repos/{owner}/{repo}, branches), the git data API
// (refs, annotated tags, blobs, trees, commits, matching-refs), contents,
// tags, tarball archives (a 302 to a codeload-like URL serving a gzipped tar
// with one top directory, as GitHub does), commit statuses and combined
// status, check runs, deployments and their statuses, pull requests (create,
// list with head/base/state filters, get, edit, merge with merge/squash and
// the sha guard) and issue comments.
//
// The OAuth web flow is modelled for sign-in tests: AddOAuthApp registers
// an app, SignInAs says who is signed in to GitHub, GET
// /login/oauth/authorize redirects back with a one-time code and the state,
// and POST /login/oauth/access_token exchanges it (errors as GitHub gives
// them: 200 with "bad_verification_code" or
// "incorrect_client_credentials"). With the token, GET /user, /user/orgs,
// /orgs/{org}/members/{user} (204, 404, or 302 for a non-member asking) and
// /orgs/{org}/teams/{team}/memberships/{user} (state "active" or
// "pending") answer from AddOrgMember and AddTeamMember.
//
// Status codes and bodies are GitHub's: 201 on creates, 404
// {"message":"Not Found"}, 422 {"message":"Reference already exists"}, 422
// "Validation Failed" with errors for a duplicate pull request, 409 "Head
// branch was modified" for a stale merge, 405 "Pull Request is not
// mergeable", 409 for deployments whose required contexts are not green,
// and 304 Not Modified for a GET whose If-None-Match matches the ETag the
// fake sends with every 200 GET. Lists are paginated with page/per_page and
// a Link header.
//
// Simplifications: trees are flat (a tree's entries are all its files, with
// full paths; there are no tree objects for directories); merges are
// file-level three-way merges; SHAs are SHA-1 but only blob SHAs equal git's.
//
// Any request the fake does not model fails the test (t.Errorf with method
// and path) and is answered 501, so a test can never pass by accident on an
// unmodelled endpoint.
//
// # Faults and observation
//
// RateLimitNext, SecondaryRateLimitNext and FailNext make the next requests
// fail as GitHub does under load; Requests and Served report what the fake
// answered. The fake's clock (WithClock) sets the times in rate limit
// headers, so a test with a fake clock sees consistent reset times.
//
// Only tests import this package.
package githubtest
