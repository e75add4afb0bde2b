//go:build !unix

package docker

import "os/exec"

// killProcessGroup leaves cmd as it is: without process groups, cancelling
// kills the shell only, and exec.Cmd.WaitDelay bounds the wait for its
// children.
func killProcessGroup(cmd *exec.Cmd) {}
