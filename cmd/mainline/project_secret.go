package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/controller/store"
)

// maxSecretFileBytes bounds a webhook secret file: GitHub's secrets are
// short, and a bigger file is most likely the wrong one.
const maxSecretFileBytes = 4 << 10

// eventWebhookSecretSet is the kind of the event recorded when a project's
// webhook secret is set; its message never contains the secret.
const eventWebhookSecretSet = "webhook_secret_set"

// readSecretFile reads a webhook secret from the file path, or from stdin
// for "-", without surrounding white space. Secrets are read from files
// rather than flag values so they stay out of shell history and process
// lists; errors never quote the file's content.
func readSecretFile(path string, stdin io.Reader) (string, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("webhook secret file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("webhook secret file %s: %w", path, err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("webhook secret file %s: over %d bytes", path, maxSecretFileBytes)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "", fmt.Errorf("webhook secret file %s is empty", path)
	}
	return string(b), nil
}

func newProjectSetSecretCmd(getenv func(string) string) *cobra.Command {
	var file string
	var keepPrevious bool
	cmd := &cobra.Command{
		Use:   "set-secret NAME --file FILE [--keep-previous]",
		Short: "Set a project's own webhook secret, read from a file (- for stdin)",
		Long: `Set the webhook secret of project NAME, read from FILE ("-" reads stdin).

A delivery about the project's repository is accepted when it is signed
with this secret or with a global one (MAINLINE_WEBHOOK_SECRET). To rotate
without losing deliveries, set the new secret with --keep-previous: the
old one stays valid until the next set-secret, so GitHub can be switched
over in the meantime. The secret is read from a file, never from a flag
value, to keep it out of shell history; it is never printed.`,
		Example: `  openssl rand -hex 32 > api.secret
  mainline project set-secret octo-org/api --file api.secret
  mainline project set-secret octo-org/api --file new.secret --keep-previous`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			secret, err := readSecretFile(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), getenv, func(st store.Store) error {
				msg, err := setProjectSecret(cmd.Context(), st, args[0], secret, keepPrevious)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], msg)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", `file holding the new secret ("-": stdin)`)
	cmd.Flags().BoolVar(&keepPrevious, "keep-previous", false, "keep the current secret valid as the previous one (rotation)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// setProjectSecret makes secret the current webhook secret of the project
// name, keeping its current one as the previous one if keepPrevious, and
// says what it did without quoting either.
func setProjectSecret(ctx context.Context, st store.Store, name, secret string, keepPrevious bool) (string, error) {
	return projectAction(ctx, st, name, eventWebhookSecretSet, func(_ context.Context, _ store.Store, p *store.Project) (string, error) {
		msg := "webhook secret set"
		previous := ""
		switch {
		case keepPrevious && p.WebhookSecret != "" && p.WebhookSecret != secret:
			previous = p.WebhookSecret
			msg = "webhook secret rotated; the previous one stays valid until the next set-secret"
		case keepPrevious:
			msg = "webhook secret set; there was no other one to keep"
		}
		p.WebhookSecret, p.WebhookSecretPrevious = secret, previous
		return msg, nil
	})
}

// projectSecretStore is what projectSecrets needs of the store.
type projectSecretStore interface {
	ProjectsByLocation(ctx context.Context, scm, location string) ([]store.Project, error)
	ProjectByName(ctx context.Context, name string) (store.Project, error)
}

// projectSecrets returns a webhooks.Handler.ProjectSecrets that finds the
// projects watching a repository the way controller.WakeRepository does —
// GitHub projects by location, others by name — and returns all their
// secrets.
func projectSecrets(st projectSecretStore) func(ctx context.Context, repo string) ([][]byte, error) {
	return func(ctx context.Context, repo string) ([][]byte, error) {
		ps, err := st.ProjectsByLocation(ctx, "github", repo)
		if err != nil {
			return nil, fmt.Errorf("projects watching %s: %w", repo, err)
		}
		if p, err := st.ProjectByName(ctx, repo); err == nil {
			ps = append(ps, p)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("project %s: %w", repo, err)
		}
		var secrets [][]byte
		for _, p := range ps {
			for _, s := range p.WebhookSecrets() {
				secrets = append(secrets, []byte(s))
			}
		}
		return secrets, nil
	}
}
