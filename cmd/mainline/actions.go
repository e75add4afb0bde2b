package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy"
)

// The actions below change a project's desired state the way the
// dashboard does: by pinning, unpinning or pausing the project in the
// store, with an event naming who did it. A running controller picks the
// change up at its next resync.

// actor names the user running the CLI, for events: "user:alice".
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "user:" + u.Username
	}
	return "user:unknown"
}

// projectAction loads a project by name, lets change modify it, writes it
// back and records an event, all in one transaction.
func projectAction(ctx context.Context, st store.Store, name, kind string, change func(ctx context.Context, tx store.Store, p *store.Project) (string, error)) (string, error) {
	var msg string
	err := st.InTx(ctx, func(tx store.Store) error {
		p, err := tx.ProjectByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no project named %q (mainline status lists them)", name)
		}
		if err != nil {
			return err
		}
		if msg, err = change(ctx, tx, &p); err != nil {
			return err
		}
		if err := tx.UpdateProject(ctx, p); err != nil {
			return err
		}
		_, err = tx.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: kind, Message: msg + " (by " + actor() + ")", At: time.Now().UTC()})
		return err
	})
	return msg, err
}

// newActionCmd builds an action command. With MAINLINE_URL set it asks
// that server through its JSON API (remote), which applies the action at
// once; otherwise it changes the store directly (change).
func newActionCmd(getenv func(string) string, use, short, kind string, args cobra.PositionalArgs,
	change func(ctx context.Context, tx store.Store, p *store.Project, args []string) (string, error),
	remote func(ctx context.Context, api *apiClient, args []string) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, ok, err := newAPIClient(getenv)
			if err != nil {
				return err
			}
			if ok {
				msg, err := remote(cmd.Context(), api, args)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), msg)
				return err
			}
			return withStore(cmd.Context(), getenv, func(st store.Store) error {
				msg, err := projectAction(cmd.Context(), st, args[0], kind, func(ctx context.Context, tx store.Store, p *store.Project) (string, error) {
					return change(ctx, tx, p, args)
				})
				if err != nil {
					return err
				}
				return printAction(cmd.OutOrStdout(), msg)
			})
		},
	}
}

func printAction(w io.Writer, msg string) error {
	_, err := fmt.Fprintf(w, "%s\nA running server applies it at its next resync.\n", msg)
	return err
}

func newDeployCmd(getenv func(string) string) *cobra.Command {
	return newActionCmd(getenv, "deploy PROJECT VERSION", "Pin a project to a version: roll it out and keep it until resume",
		"pinned", cobra.ExactArgs(2), func(ctx context.Context, tx store.Store, p *store.Project, args []string) (string, error) {
			v := args[1]
			if _, err := deploy.ParseVersion(v); err != nil {
				return "", err
			}
			if !hasTag(ctx, tx, p.ID, v) {
				return "", fmt.Errorf("%s has no version %s (mainline status %s shows its tags)", p.Name, v, p.Name)
			}
			p.Pinned = v
			return fmt.Sprintf("%s pinned to %s", p.Name, v), nil
		}, func(ctx context.Context, api *apiClient, args []string) (string, error) {
			return api.Deploy(ctx, args[0], args[1])
		})
}

func newRollbackCmd(getenv func(string) string) *cobra.Command {
	return newActionCmd(getenv, "rollback PROJECT", "Pin a project to its previous good version",
		"pinned", cobra.ExactArgs(1), func(ctx context.Context, tx store.Store, p *store.Project, _ []string) (string, error) {
			ds, err := tx.DesiredStates(ctx, p.ID)
			if err != nil {
				return "", err
			}
			if len(ds) == 0 || ds[0].Version == "" {
				return "", fmt.Errorf("%s has no desired version to roll back from", p.Name)
			}
			prev, err := controller.PreviousGoodVersion(ctx, tx, p.ID, ds[0].Version)
			if err != nil {
				return "", err
			}
			if prev == "" {
				return "", fmt.Errorf("%s: no good version before %s to roll back to", p.Name, ds[0].Version)
			}
			p.Pinned = prev
			return fmt.Sprintf("%s rolled back from %s: pinned to %s", p.Name, ds[0].Version, prev), nil
		}, func(ctx context.Context, api *apiClient, args []string) (string, error) {
			return api.Rollback(ctx, args[0])
		})
}

func newPauseCmd(getenv func(string) string) *cobra.Command {
	return newActionCmd(getenv, "pause PROJECT", "Stop automatic deploys of a project; what runs keeps running",
		"paused", cobra.ExactArgs(1), func(_ context.Context, _ store.Store, p *store.Project, _ []string) (string, error) {
			p.Paused = true
			return p.Name + " paused", nil
		}, func(ctx context.Context, api *apiClient, args []string) (string, error) {
			return api.Pause(ctx, args[0])
		})
}

func newResumeCmd(getenv func(string) string) *cobra.Command {
	return newActionCmd(getenv, "resume PROJECT", "Resume automatic deploys of a project and drop any pin",
		"resumed", cobra.ExactArgs(1), func(_ context.Context, _ store.Store, p *store.Project, _ []string) (string, error) {
			p.Paused, p.Pinned = false, ""
			return p.Name + " resumed", nil
		}, func(ctx context.Context, api *apiClient, args []string) (string, error) {
			return api.Resume(ctx, args[0])
		})
}

func newBuildCmd(getenv func(string) string) *cobra.Command {
	var retry bool
	cmd := &cobra.Command{
		Use:   "build --retry PROJECT VERSION",
		Short: "Retry the failed builds of a version",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !retry {
				return errors.New("builds run by themselves on every tag; use --retry to retry a failed one")
			}
			api, ok, err := newAPIClient(getenv)
			if err != nil {
				return err
			}
			if ok {
				return retryRemote(cmd.Context(), cmd.OutOrStdout(), api, args[0], args[1])
			}
			return withStore(cmd.Context(), getenv, func(st store.Store) error {
				msg, err := projectAction(cmd.Context(), st, args[0], "build_retry", func(ctx context.Context, tx store.Store, p *store.Project) (string, error) {
					return retryBuilds(ctx, tx, p, args[1])
				})
				if err != nil {
					return err
				}
				return printAction(cmd.OutOrStdout(), msg)
			})
		},
	}
	cmd.Flags().BoolVar(&retry, "retry", false, "retry the failed builds of VERSION")
	return cmd
}

// retryBuilds marks the failed builds of version pending again, so the
// build stage runs them once more.
func retryBuilds(ctx context.Context, tx store.Store, p *store.Project, version string) (string, error) {
	builds, err := tx.Builds(ctx, p.ID, 0)
	if err != nil {
		return "", err
	}
	n := 0
	for _, b := range builds {
		if b.Version != version || b.Status != store.BuildFailed {
			continue
		}
		b.Status, b.Error, b.FinishedAt = store.BuildPending, "", time.Time{}
		if err := tx.PutBuild(ctx, b); err != nil {
			return "", err
		}
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("%s %s has no failed build to retry", p.Name, version)
	}
	return fmt.Sprintf("%s %s: %d failed build(s) will be retried", p.Name, version, n), nil
}

// retryRemote retries, through the API, every build of a version the
// server says failed.
func retryRemote(ctx context.Context, w io.Writer, api *apiClient, project, version string) error {
	var p apiProjectState
	if err := api.call(ctx, "GET", projectPath(project, ""), nil, &p); err != nil {
		return fmt.Errorf("build --retry %s: %w", project, err)
	}
	var firstErr error
	retried := 0
	for _, b := range p.Builds {
		msg, err := api.RetryBuild(ctx, project, b.Name, version)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		retried++
		fmt.Fprintln(w, msg)
	}
	if retried == 0 && firstErr != nil {
		return firstErr
	}
	return nil
}

func hasTag(ctx context.Context, st store.Store, projectID int64, name string) bool {
	tags, err := st.Tags(ctx, projectID)
	if err != nil {
		return false
	}
	for _, t := range tags {
		if t.Name == name {
			return true
		}
	}
	return false
}
