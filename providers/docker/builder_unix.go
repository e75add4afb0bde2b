//go:build unix

package docker

import (
	"os/exec"
	"syscall"
)

// killProcessGroup starts cmd in its own process group and makes its
// cancellation kill the whole group: `sh -c` forks, and killing only the
// shell would leave the children holding the output pipe open.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
