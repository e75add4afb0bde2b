// Command sample is the tiny HTTP service the Docker tests run in a FROM
// scratch image. It answers "/" with its version, "/healthz" with 200 or 503
// as SAMPLE_HEALTHY says, sleeps when asked (?sleep=1s) and shuts down
// gracefully on SIGTERM, finishing in-flight requests — unless
// SAMPLE_EXIT_ON_TERM=true, when it exits at once, dropping them (tests use
// that to show that a proxy drained the instance before stopping it).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	version := os.Getenv("SAMPLE_VERSION")
	healthy := os.Getenv("SAMPLE_HEALTHY") != "false"
	exitOnTerm := os.Getenv("SAMPLE_EXIT_ON_TERM") == "true"
	addr := ":" + envOr("PORT", "8080")

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !healthy {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("sleep"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			time.Sleep(d)
		}
		w.Header().Set("Sample-Version", version)
		fmt.Fprintln(w, version)
	})

	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		if exitOnTerm {
			log.Printf("sample %s: SIGTERM, exiting at once", version)
			os.Exit(0)
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			log.Printf("shutdown: %v", err)
		}
	}()
	log.Printf("sample %s listening on %s", version, addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done // Shutdown returns once in-flight requests have finished
	log.Printf("sample %s stopped", version)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
