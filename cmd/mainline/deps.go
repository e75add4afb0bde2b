package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
	"github.com/mainline-cd/mainline/providers/goproxy"
)

func newDepsCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deps",
		Short: "Dependents day: dependency upgrade pull requests",
	}
	cmd.AddCommand(newDepsRunCmd(getenv))
	return cmd
}

func newDepsRunCmd(getenv func(string) string) *cobra.Command {
	var waveWait time.Duration
	cmd := &cobra.Command{
		Use:   "run [PROJECT]",
		Short: "Run dependents day now for every project, or for one",
		Long: `Run dependents day now: find newer versions of each project's Go modules and
Dockerfile base images, try them in a scratch checkout (go mod tidy, the build
command, go build ./..., go test ./...), open or update one pull request per
repository with what passed, merge it when its checks are green and automerge
is on, and close pull requests nothing is left in. Libraries go first; the
projects that require their modules follow in later waves.

The go tool runs with GOPROXY set to MAINLINE_GOPROXY and GOFLAGS=-mod=mod;
GOPRIVATE, GONOPROXY, GONOSUMDB and GOSUMDB are read from the environment.

A merge into a local repository (mainline project add --git) is made with
git update-ref, which runs no hooks; so that whatever learns of pushes from
the repository's post-receive hook (the server of mainline demo) learns of
the merge at once, that hook is run for it as a push would have run it.

` + settingsHelp,
		Example: `  mainline deps run
  mainline deps run octo-org/api
  MAINLINE_GOPROXY=https://athens.corp.example mainline deps run --wave-wait 20m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := loadSettings(getenv)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			srv, err := newServer(ctx, s, logger, controller.Providers{})
			if err != nil {
				return err
			}
			defer srv.close()
			scm := hookedSCM(srv, &lockedWriter{w: cmd.OutOrStdout()}, logger)
			day, err := newDependentsDay(s, getenv, srv.store, scm, srv.controller.Providers.Notifier, logger)
			if err != nil {
				return err
			}
			day.WaveWait = waveWait
			var rep dependents.Report
			if len(args) == 1 {
				pr, err := day.RunProject(ctx, args[0])
				if pr.Err == nil && err != nil {
					return err
				}
				rep.Projects = []dependents.ProjectReport{pr}
			} else if rep, err = day.Run(ctx); err != nil {
				return err
			}
			printDeps(cmd.OutOrStdout(), rep)
			for _, p := range rep.Projects {
				if p.Err != nil {
					return exitCode(1)
				}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&waveWait, "wave-wait", 0, "after a wave merged upgrades, wait up to this long for them to be tagged and deployed before the next wave (needs mainline serve running)")
	return cmd
}

// newDependentsDay wires dependents day from the settings: the module
// proxy lookups, the go tool's environment and the store.
func newDependentsDay(s settings, getenv func(string) string, st store.Store,
	scm func(context.Context, store.Project) (providers.SCM, error), notifier providers.Notifier, logger *slog.Logger,
) (*dependents.Day, error) {
	index, err := goproxy.New(goproxy.Config{Proxy: s.GoProxy, Private: getenv("GOPRIVATE"), NoProxy: getenv("GONOPROXY")})
	if err != nil {
		return nil, fmt.Errorf("MAINLINE_GOPROXY: %w", err)
	}
	return &dependents.Day{
		Store:        st,
		SCM:          scm,
		Index:        index,
		Images:       dependents.RemoteImages{},
		Notifier:     notifier,
		Logger:       logger,
		Env:          append([]string{"GOPROXY=" + s.GoProxy}, s.GoEnv...),
		DashboardURL: s.PublicURL,
	}, nil
}

// hookedSCM opens the repositories of local projects (SCM "git") so that
// each branch Mainline moves on them, other than the upgrade branch, runs
// the repository's post-receive hook as a push would have (see
// runPostReceive), and says so on out; other projects open as the server
// opens them. Without it the demo's server would see a merged upgrade
// only at its next resync.
func hookedSCM(srv *server, out io.Writer, logger *slog.Logger) func(context.Context, store.Project) (providers.SCM, error) {
	return func(ctx context.Context, p store.Project) (providers.SCM, error) {
		if p.SCM != "git" {
			return srv.scm(ctx, p)
		}
		onUpdate := func(ctx context.Context, u gitlocal.RefUpdate) {
			branch, ok := strings.CutPrefix(u.Ref, "refs/heads/")
			if !ok || branch == dependents.Branch {
				return
			}
			ran, output, err := runPostReceive(ctx, p.Location, u)
			for line := range strings.SplitSeq(strings.TrimSpace(output), "\n") {
				if line != "" {
					fmt.Fprintf(out, "  %s: post-receive hook: %s\n", p.Name, line)
				}
			}
			switch {
			case err != nil:
				fmt.Fprintf(out, "  %s: %v; the server sees %s %s at its next resync\n", p.Name, err, branch, short(u.New))
			case ran && output == "":
				fmt.Fprintf(out, "  %s: ran the post-receive hook for %s %s\n", p.Name, branch, short(u.New))
			}
		}
		r, err := gitlocal.Open(p.Location, gitlocal.WithLogger(logger), gitlocal.OnRefUpdate(onUpdate))
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", p.Name, err)
		}
		return r, nil
	}
}

// lockedWriter serialises writes from projects run side by side.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// printDeps writes what a run did, wave by wave.
func printDeps(w io.Writer, rep dependents.Report) {
	if len(rep.Projects) == 0 {
		fmt.Fprintln(w, "no projects yet: mainline project add OWNER/REPO (or --git PATH)")
		return
	}
	wave := 0
	for _, p := range rep.Projects {
		if p.Wave != wave && p.Wave > 0 {
			wave = p.Wave
			fmt.Fprintf(w, "wave %d\n", wave)
		}
		fmt.Fprintf(w, "  %s: %s\n", p.Project, depsSummary(p))
		for _, u := range p.Upgrades {
			fmt.Fprintf(w, "      %s (%s)\n", u, u.Kind)
		}
		for _, l := range p.LeftOut {
			to := l.Name
			if l.To != "" {
				to = l.Upgrade.String()
			}
			fmt.Fprintf(w, "      left out: %s: %s\n", to, l.Reason)
		}
	}
	if rep.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", rep.Stopped)
	}
}

func depsSummary(p dependents.ProjectReport) string {
	switch {
	case p.Err != nil:
		return "error: " + p.Err.Error()
	case p.Skipped != "":
		return "skipped: " + p.Skipped
	case p.Action == "":
		if len(p.LeftOut) > 0 {
			return "no pull request"
		}
		return "nothing to upgrade"
	case p.Action == "closed":
		return fmt.Sprintf("closed #%d (nothing left to upgrade) %s", p.PR.Number, p.PR.URL)
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("%s #%d %q %s", p.Action, p.PR.Number, p.PR.Title, p.PR.URL))
	if p.Checks != "" {
		parts = append(parts, "checks "+string(p.Checks))
	}
	if p.Merged {
		parts = append(parts, "merged as "+short(p.MergeSHA))
	}
	return strings.Join(parts, "; ")
}
