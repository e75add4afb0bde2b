// Package dependents is dependents day: once a day, for every watched
// repository, it finds newer versions of the Go modules in go.mod and of the
// base images in the Dockerfiles, tries them in a scratch checkout (go mod
// tidy, the project's build command, go build and go test), opens or
// updates one pull request with what passed, and merges it when its checks
// are green and the project allows automerge. The merge is a push to the
// default branch, so the controller's normal pipeline tags and deploys it.
//
// Repositories are upgraded in waves that follow the dependency graph
// across watched projects: a library first, then the services that require
// its module, once the library's merge has been tagged. A wave whose deploy
// is rolled back stops the waves after it.
//
// The pieces can be used alone: Finder chooses upgrades (ChooseVersion and
// ChooseTag are the pure rules), EditGoMod edits a go.mod, Day runs the
// whole day, and Scheduler runs Day per project on its configured schedule.
//
// The package talks to the world through the providers interfaces
// (SCM, Source, PullRequests, StatusSetter, ModuleIndex) and the store; cmd/mainline
// wires it up. Tests use proxytest for a module proxy.
package dependents
