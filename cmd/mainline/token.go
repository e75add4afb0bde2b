package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/web"
)

func newTokenCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens for the API and for signing in to the dashboard",
	}
	cmd.AddCommand(newTokenCreateCmd(getenv))
	return cmd
}

// tokenName is what a token may be called: it appears in events as
// "token:NAME".
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// tokenPrefix marks Mainline tokens, so secret scanners can find leaked
// ones.
const tokenPrefix = "mlt_"

// newToken returns a new random secret: 32 bytes, base64url.
func newToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func newTokenCreateCmd(getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API token; its secret is shown once and stored only as a hash",
		Long: `Create an API token. The secret is printed once; Mainline keeps only its
SHA-256. Send it as "Authorization: Bearer TOKEN" to /api/v1, set it as
MAINLINE_TOKEN for the CLI, or sign in to the dashboard with it. Actions
taken with it are recorded as "token:NAME".`,
		Example: "  mainline token create ci",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !tokenName.MatchString(name) {
				return fmt.Errorf("token name %q: use up to 64 letters, digits, '.', '_' or '-'", name)
			}
			secret, err := newToken()
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), getenv, func(st store.Store) error {
				_, err := st.AddToken(cmd.Context(), store.Token{Name: name, Hash: web.HashToken(secret), CreatedAt: time.Now().UTC()})
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("a token named %q exists already", name)
				}
				if err != nil {
					return fmt.Errorf("store token %s: %w", name, err)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "Created token %q. Copy it now; it is not shown again:\n\n  %s\n\n"+
					"Use it as \"Authorization: Bearer …\", as MAINLINE_TOKEN, or to sign in to the dashboard.\n", name, secret)
				return err
			})
		},
	}
}
