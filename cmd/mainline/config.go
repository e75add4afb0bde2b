package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	_ "time/tzdata" // dependencies.timezone must resolve the same way in a scratch image

	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/deploy/config"
)

// configFile is the name of the per-repository configuration file.
const configFile = ".mainline.yaml"

// newConfigCmd groups the commands about .mainline.yaml.
func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check " + configFile + " files",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newConfigValidateCmd())
	return cmd
}

func newConfigValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a " + configFile + " and list every problem in it",
		Long: `Validate reads a ` + configFile + ` (by default the one in the current
directory; FILE may also name a repository directory) and checks it the way
the controller will: unknown keys, wrong types, impossible values, depends_on
cycles and paths that leave the repository.

Each problem is printed to stderr on its own line as
FILE:LINE:COLUMN: FIELD: MESSAGE, and the exit status is 1. A valid file
prints a one-line summary to stdout and exits 0.`,
		Example: "  mainline config validate\n  mainline config validate services/api/.mainline.yaml",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := configFile
			if len(args) == 1 {
				file = args[0]
			}
			return validateConfig(cmd.OutOrStdout(), cmd.ErrOrStderr(), file)
		},
	}
}

// validateConfig checks file and reports on out (valid) or errOut
// (invalid, exitCode(1)). A file that cannot be read is an ordinary error.
func validateConfig(out, errOut io.Writer, file string) error {
	if st, err := os.Stat(file); err == nil && st.IsDir() {
		file = filepath.Join(file, configFile)
	}
	data, err := readConfig(file)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no such file (run this in the repository root, or name the file: mainline config validate PATH)", file)
	}
	if err != nil {
		return err
	}
	cfg, err := config.Parse(file, data)
	if err != nil {
		var errs config.Errors
		if !errors.As(err, &errs) {
			errs = config.Errors{{File: file, Msg: err.Error()}}
		}
		for _, e := range errs {
			if _, err := fmt.Fprintln(errOut, e.Error()); err != nil {
				return err
			}
		}
		return exitCode(1)
	}
	_, err = fmt.Fprintln(out, summarize(file, cfg))
	return err
}

// readConfig reads at most one byte more than config.MaxFileSize, enough
// for Parse to see that a file is too big without reading all of it.
func readConfig(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return data, nil
}

// summarize describes a valid config in one line:
//
//	.mainline.yaml: ok — 2 builds (api ×2, www ×1), branch main, verify .mainline/verify.yaml
func summarize(file string, cfg *config.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ok — %d build", file, len(cfg.Builds))
	if len(cfg.Builds) != 1 {
		b.WriteString("s")
	}
	if len(cfg.Builds) > 0 {
		builds := make([]string, len(cfg.Builds))
		for i, bd := range cfg.Builds {
			builds[i] = fmt.Sprintf("%s ×%d", bd.Name, bd.Instances)
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(builds, ", "))
	}
	if cfg.Branch != "" {
		fmt.Fprintf(&b, ", branch %s", cfg.Branch)
	} else {
		b.WriteString(", default branch")
	}
	if cfg.Verify != "" {
		fmt.Fprintf(&b, ", verify %s", cfg.Verify)
	} else {
		b.WriteString(", no verify suite")
	}
	return b.String()
}
