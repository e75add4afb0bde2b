package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy"
)

// openStore opens the store the settings name, creating the data
// directory for SQLite.
func openStore(ctx context.Context, s settings) (store.Store, error) {
	if strings.HasPrefix(s.DatabaseURL, "sqlite:") {
		if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	st, err := store.Open(ctx, s.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// withStore runs fn with the configured store and closes it after.
func withStore(ctx context.Context, getenv func(string) string, fn func(store.Store) error) error {
	s, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

func newProjectCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "project",
		Short: "Manage the repositories Mainline watches",
	}
	cmd.AddCommand(newProjectAddCmd(getenv))
	cmd.AddCommand(newProjectSetSecretCmd(getenv))
	return cmd
}

func newProjectAddCmd(getenv func(string) string) *cobra.Command {
	var gitPath, name, branch, secretFile string
	cmd := &cobra.Command{
		Use:   "add {OWNER/REPO | --git PATH}",
		Short: "Watch a GitHub repository, or a local git repository with --git",
		Example: `  mainline project add octo-org/api
  mainline project add --git ./demo.git --name demo`,
		Args: func(cmd *cobra.Command, args []string) error {
			if gitPath == "" && len(args) != 1 {
				return errors.New("want OWNER/REPO, or --git PATH")
			}
			if gitPath != "" && len(args) != 0 {
				return errors.New("give either OWNER/REPO or --git PATH, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := projectFromArgs(args, gitPath, name, branch)
			if err != nil {
				return err
			}
			if secretFile != "" {
				secret, err := readSecretFile(secretFile, cmd.InOrStdin())
				if err != nil {
					return err
				}
				p.WebhookSecret = secret
			}
			return withStore(cmd.Context(), getenv, func(st store.Store) error {
				p, err := st.CreateProject(cmd.Context(), p)
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("a project named %q exists already", p.Name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "watching %s (%s %s)\n", p.Name, p.SCM, p.Location)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&gitPath, "git", "", "path of a local git repository to watch")
	cmd.Flags().StringVar(&name, "name", "", "project name (default: OWNER/REPO, or the directory name for --git)")
	cmd.Flags().StringVar(&branch, "branch", "", "branch to deploy (default: .mainline.yaml's branch, else the default branch)")
	cmd.Flags().StringVar(&secretFile, "webhook-secret-file", "", `file holding the project's own webhook secret ("-": stdin); see project set-secret`)
	return cmd
}

// projectFromArgs validates what the user typed and names the project.
func projectFromArgs(args []string, gitPath, name, branch string) (store.Project, error) {
	p := store.Project{Name: name, Branch: branch}
	if gitPath != "" {
		abs, err := filepath.Abs(gitPath)
		if err != nil {
			return p, fmt.Errorf("--git %s: %w", gitPath, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return p, fmt.Errorf("--git %s: %w", gitPath, err)
		}
		p.SCM, p.Location = "git", abs
		if p.Name == "" {
			p.Name = strings.TrimSuffix(filepath.Base(abs), ".git")
		}
		return p, nil
	}
	repo := args[0]
	owner, rest, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || rest == "" || strings.Contains(rest, "/") {
		return p, fmt.Errorf("repository %q: want OWNER/REPO", repo)
	}
	p.SCM, p.Location = "github", repo
	if p.Name == "" {
		p.Name = repo
	}
	return p, nil
}

func newStatusCmd(getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:   "status [PROJECT]",
		Short: "Show each project's head, latest tag, desired and last state, and recent events",
		Long: `Show each project's head, latest tag, desired and last state, and recent events.

With MAINLINE_URL (and MAINLINE_TOKEN) set, ask that server instead of
reading the store.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, ok, err := newAPIClient(getenv)
			if err != nil {
				return err
			}
			if ok {
				return api.Status(cmd.Context(), cmd.OutOrStdout(), args)
			}
			return withStore(cmd.Context(), getenv, func(st store.Store) error {
				return printStatus(cmd.Context(), cmd.OutOrStdout(), st, args)
			})
		},
	}
}

// printStatus writes the status of the named project, or of all.
func printStatus(ctx context.Context, w io.Writer, st store.Store, names []string) error {
	var ps []store.Project
	if len(names) == 1 {
		p, err := st.ProjectByName(ctx, names[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no project named %q (mainline project add …)", names[0])
		}
		if err != nil {
			return err
		}
		ps = []store.Project{p}
	} else {
		var err error
		if ps, err = st.Projects(ctx); err != nil {
			return err
		}
	}
	if len(ps) == 0 {
		fmt.Fprintln(w, "no projects yet: mainline project add OWNER/REPO (or --git PATH)")
		return nil
	}
	for i, p := range ps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := printProject(ctx, w, st, p); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
	}
	return nil
}

func printProject(ctx context.Context, w io.Writer, st store.Store, p store.Project) error {
	flags := ""
	if p.Paused {
		flags += " [paused]"
	}
	if p.Pinned != "" {
		flags += " [pinned " + p.Pinned + "]"
	}
	fmt.Fprintf(w, "%s (%s %s)%s\n", p.Name, p.SCM, p.Location, flags)
	head := "-"
	// The branch is resolved by the controller when the project has none
	// of its own; look where it most likely is.
	for _, b := range []string{p.Branch, "main", "master"} {
		if h, err := st.Head(ctx, p.ID, b); b != "" && err == nil {
			head = b + " @ " + short(h.SHA)
			break
		}
	}
	tags, err := st.Tags(ctx, p.ID)
	if err != nil {
		return err
	}
	latest := "-"
	if len(tags) > 0 {
		latest = tags[0].Name + " @ " + short(tags[0].SHA)
		if head == "-" {
			head = short(tags[0].SHA)
		}
	}
	fmt.Fprintf(w, "  head:    %s\n  tag:     %s\n", head, latest)
	ds, err := st.DesiredStates(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		last := "-"
		if l, err := st.Last(ctx, p.ID, d.Build); err == nil {
			last = formatVersions(l.Versions)
		}
		fmt.Fprintf(w, "  %-8s desired %s ×%d (%s)   last %s\n", d.Build+":", d.Version, d.Instances, d.SetBy, last)
	}
	evs, err := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Limit: 5})
	if err != nil {
		return err
	}
	for _, e := range evs {
		fmt.Fprintf(w, "  %s  %-16s %s\n", e.At.Local().Format("15:04:05"), e.Kind, firstLine(e.Message))
	}
	return nil
}

func formatVersions(vs map[string]int) string {
	if len(vs) == 0 {
		return "nothing healthy"
	}
	keys := deploy.Last{Versions: vs}.SortedVersions()
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, vs[k]))
	}
	return strings.Join(parts, ", ")
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
