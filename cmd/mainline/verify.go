package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/deploy/verify"
)

// newVerifyCmd is `mainline verify`, the verification suites. getenv
// resolves ${env:NAME} in a suite; an empty value counts as unset.
func newVerifyCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Run production verification suites",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newVerifyRunCmd(getenv))
	return cmd
}

func newVerifyRunCmd(getenv func(string) string) *cobra.Command {
	var (
		serviceURL string
		vars       []string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "run FILE --url URL [--var name=value]...",
		Short: "Run a verification suite against a service and report each step",
		Long: `Run a verification suite against the service at URL (the suite's ${SERVICE_URL})
and print each step's outcome, with what was expected and what came back for
every assertion that did not pass. Exits with status 1 when the suite fails,
cannot measure the service, or does not parse.

${env:NAME} in the suite is read from the environment and never printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("verify run: %w", err)
			}
			suite, err := verify.Parse(file, data)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitCode(1)
			}
			opts := verify.RunOptions{
				Vars: map[string]string{},
				Getenv: func(name string) (string, bool) {
					v := getenv(name)
					return v, v != ""
				},
			}
			for _, kv := range vars {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("verify run: --var %q: want name=value", kv)
				}
				opts.Vars[k] = v
			}
			opts.Vars["SERVICE_URL"] = serviceURL

			rep := verify.Run(cmd.Context(), nil, suite, opts)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			} else {
				err = writeVerifyReport(out, rep)
			}
			if err != nil {
				return fmt.Errorf("verify run: %w", err)
			}
			if rep.Outcome != verify.Passed {
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&serviceURL, "url", "", "base URL of the service, the suite's ${SERVICE_URL} (required)")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "a variable for the suite, as name=value (repeatable)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the full report, requests and responses included, as JSON")
	_ = cmd.MarkFlagRequired("url") // the flag exists
	return cmd
}

// writeVerifyReport prints a report for people: one line per step, then for
// each assertion that did not pass what was expected and what came back,
// then a summary line.
func writeVerifyReport(w io.Writer, rep *verify.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s against %s (run %s)\n", rep.Suite, rep.BaseURL, rep.RunID)
	if rep.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", rep.Error)
	}
	counts := map[verify.Outcome]int{}
	for _, s := range rep.Steps {
		counts[s.Outcome]++
		mark := map[verify.Outcome]string{verify.Passed: "✓", verify.Failed: "✗", verify.Error: "✗", verify.Skipped: "-"}[s.Outcome]
		name := s.Name
		if s.Always {
			name += " (always)"
		}
		parts := []string{mark + " " + name}
		switch {
		case s.Outcome == verify.Skipped:
			parts = append(parts, "skipped")
			if s.Note != "" {
				parts[len(parts)-1] += ": " + s.Note
			}
		case s.Response != nil:
			parts = append(parts, fmt.Sprint(s.Response.Status), roundDuration(s.Response.Latency).String())
		}
		if s.Attempts > 1 {
			parts = append(parts, fmt.Sprintf("%d attempts", s.Attempts))
		}
		if s.Error != "" {
			parts = append(parts, "error: "+s.Error)
		}
		b.WriteString(strings.Join(parts, " · "))
		b.WriteByte('\n')
		if s.Response == nil && s.Error != "" {
			continue // every assertion says "no response"; the error says why
		}
		for _, a := range s.Assertions {
			switch a.Outcome {
			case verify.Failed:
				fmt.Fprintf(&b, "    %s: expected %s, got %s\n", a.What, a.Expected, a.Got)
			case verify.Error:
				fmt.Fprintf(&b, "    %s: expected %s, could not measure: %s\n", a.What, a.Expected, a.Got)
			}
		}
	}
	summary := []string{fmt.Sprintf("%d passed", counts[verify.Passed])}
	for _, o := range []struct {
		o    verify.Outcome
		name string
	}{{verify.Failed, "failed"}, {verify.Error, "error"}, {verify.Skipped, "skipped"}} {
		switch n := counts[o.o]; {
		case n == 1 || n > 1 && o.o != verify.Error:
			summary = append(summary, fmt.Sprintf("%d %s", n, o.name))
		case n > 1:
			summary = append(summary, fmt.Sprintf("%d errors", n))
		}
	}
	fmt.Fprintf(&b, "%s: %s in %s\n", strings.ToUpper(string(rep.Outcome)), strings.Join(summary, ", "), roundDuration(rep.Duration))
	_, err := io.WriteString(w, b.String())
	return err
}

// roundDuration keeps latencies readable: whole milliseconds, or
// microseconds below one millisecond.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
