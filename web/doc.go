// Package web is Mainline's dashboard and JSON API: server-rendered
// html/template pages that show, for every project and build, the desired
// state next to the last observed state and why they differ; a live
// update stream over server-sent events; delivery metrics; and the actions
// (deploy a version, roll back, pause, resume, retry a build) behind
// sign-in, CSRF tokens and a confirmation step.
//
// The package reads the store and asks the controller for what the last
// reconcile found, both through small interfaces of its own. It is
// imported by cmd/mainline only, which mounts a Server for every path the
// command does not route itself.
package web
