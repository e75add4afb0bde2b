// Package github implements the providers SCM interfaces (SCM, Source,
// StatusSetter, Deployments, PullRequests) for one GitHub or GitHub
// Enterprise repository over github.com/google/go-github/v60.
//
// It is polite to the API: requests that hit GitHub's primary or secondary
// rate limit wait (on a Clock, bounded by the context and a maximum wait)
// and are retried, and the polling reads the controller makes every minute
// (HeadSHA, DefaultBranch, CombinedStatus) are conditional requests with
// ETags, which GitHub answers with 304 Not Modified without charging the
// rate limit.
//
// Imported by cmd/mainline (to build a project's SCM) and by the webhooks
// and notify providers' tests; tests use the fake in githubtest.
package github
