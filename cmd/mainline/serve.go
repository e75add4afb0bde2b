package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// shutdownTimeout bounds how long serve waits for in-flight work after
// SIGTERM/SIGINT.
const shutdownTimeout = 10 * time.Second

func newServeCmd(getenv func(string) string) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the controller, the webhook receiver and the HTTP server",
		Long:  "Run the controller, the webhook receiver and the HTTP server.\n\n" + settingsHelp + "\n" + ecsHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(getenv)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("addr") {
				s.Addr = addr
			}
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			newProviders := localProviders
			if s.Cluster == "ecs" {
				newProviders = ecsProviders
			}
			p, closeProviders, err := newProviders(cmd.Context(), &s, logger)
			if err != nil {
				return err
			}
			defer closeProviders()
			srv, err := newServer(cmd.Context(), s, logger, p)
			if err != nil {
				return err
			}
			defer srv.close()
			return serveHTTP(cmd.Context(), logger, s.Addr, srv, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (env MAINLINE_ADDR)")
	return cmd
}

// serveHTTP runs the HTTP server and the controller until ctx is done, then
// shuts both down within shutdownTimeout.
func serveHTTP(ctx context.Context, logger *slog.Logger, addr string, srv *server, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	hs := &http.Server{
		Handler:           srv.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	hs.RegisterOnShutdown(srv.web.Close) // end live-update streams so Shutdown need not wait for them
	logger.Info("serving", "addr", ln.Addr().String())
	fmt.Fprintf(out, "mainline listening on http://%s\n", ln.Addr())

	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	ctrlDone := make(chan error, 1)
	go func() { ctrlDone <- srv.run(ctx) }()

	select {
	case err := <-errc:
		return err
	case err := <-ctrlDone:
		if err != nil {
			return fmt.Errorf("controller: %w", err)
		}
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	select {
	case err := <-ctrlDone:
		return err
	case <-sctx.Done():
		return errors.New("shutdown: controller did not stop in time")
	}
}
