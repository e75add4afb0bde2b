// Command mainline is Mainline's CLI and server: merging a pull request is
// the deploy. Only this package reads flags and MAINLINE_* environment
// variables; everything else takes its configuration as struct fields.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is the binary's version; it is set at link time with
// -ldflags "-X main.version=…" and says "dev" otherwise.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(os.Getenv)
	if err := root.ExecuteContext(ctx); err != nil {
		var ec exitCode
		if asExitCode(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "mainline:", err)
		os.Exit(1)
	}
}
