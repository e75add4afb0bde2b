// Package controller is Mainline's reconcile loop. Each project (one
// repository) moves through stages — sync, tag, build, desire, scale,
// verify — each a small function that is safe to run again at any time and
// that stops the run when it is not ready. The loop is level-triggered: a
// webhook only wakes a project early, and a periodic resync reaches the same
// result without it. A crash loses nothing: on start every project is
// reconciled from what the store and the providers say.
//
// The controller imports deploy, the providers interfaces and
// controller/store; the webhooks and web packages reach it through small
// interfaces of their own.
package controller
