// Package docker holds the providers that work over the Docker Engine API
// (github.com/docker/docker/client): an image Builder and Registry, and a
// local Cluster that runs each instance as a labelled container behind a
// health-gated reverse proxy per build.
//
// The controller imports it through the interfaces in package providers;
// cmd/mainline wires it up for `mainline demo` and `mainline serve`. Tests
// that need a real engine use the helpers in package dockertest.
package docker
