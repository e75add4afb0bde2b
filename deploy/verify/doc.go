// Package verify holds Mainline's production verification suites: a YAML
// list of HTTP steps that is run against a live service after every rollout
// and on a schedule.
//
// Parse reads a suite and reports every mistake with its file, line, column
// and field path, so that a typo in an assertion is an error instead of an
// assertion silently not made. Run executes a suite with an *http.Client and
// returns a Report that keeps every request and response, and for each
// assertion one of three outcomes: passed, failed (the service answered
// wrongly) or error (the answer could not be measured). Budget turns the
// outcomes of consecutive runs into the decision to roll back or alert.
//
// Secrets are referenced, never written into a suite: ${env:NAME} is looked
// up through a function the caller supplies, and its value is masked as
// "***" in every report, error and log line, as are the values of headers in
// the redact list.
//
// The controller's verify stage and the `mainline verify run` command import
// this package; it imports no other Mainline package.
package verify
