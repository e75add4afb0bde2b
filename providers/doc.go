// Package providers holds the small interfaces the controller needs from the
// outside world — source control, image builds, registries, clusters,
// notifications and module indexes — and the values that cross them.
//
// Implementations live in sub-packages (github, gitlocal, docker, ecs,
// notify). They import this package and the standard library's types, and
// never the controller: arrows point from the controller to providers only.
// Extra abilities are optional interfaces, found by type assertion, as with
// net/http's Flusher.
package providers
