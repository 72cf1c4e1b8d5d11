package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the server process receive SIGTERM when the
// benchmark dies, so that no server outlives it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
