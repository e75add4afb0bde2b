package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// exitCode is returned by commands that have already printed what went wrong
// and only need the process to exit with a given status (e.g. `config
// validate` on an invalid file).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func asExitCode(err error, ec *exitCode) bool { return errors.As(err, ec) }

// newRootCmd builds the command tree. getenv is how commands read MAINLINE_*
// variables, so tests can pass their own.
func newRootCmd(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:           "mainline",
		Short:         "Mainline: merging a pull request is the deploy",
		Long:          "Mainline is a continuous delivery controller: it tags merges, builds images, rolls them out health-gated and verifies them against production.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newServeCmd(getenv),
		newProjectCmd(getenv),
		newStatusCmd(getenv),
		newDeployCmd(getenv),
		newRollbackCmd(getenv),
		newPauseCmd(getenv),
		newResumeCmd(getenv),
		newBuildCmd(getenv),
		newVerifyCmd(getenv),
		newConfigCmd(),
		newDemoCmd(getenv),
		newTokenCmd(getenv),
		newDepsCmd(getenv),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of mainline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "mainline %s\n", version)
			return err
		},
	}
}
