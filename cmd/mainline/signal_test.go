package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeStopsOnSignal: a real `mainline serve` answers /healthz, /readyz
// and /metrics, and on SIGTERM or SIGINT shuts down and exits 0.
func TestServeStopsOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			addr := "127.0.0.1:" + freePort(t)
			s := &serveProc{t: t, bin: bin, addr: addr, log: filepath.Join(t.TempDir(), "serve.log"), env: []string{
				"MAINLINE_DATA_DIR=" + t.TempDir(),
				"MAINLINE_ADDR=" + addr,
				"MAINLINE_REGISTRY_ADDR=127.0.0.1:" + freePort(t),
			}}
			s.start()
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				resp, err := http.Get("http://" + addr + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
				}
			}
			cmd := s.cmd
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				s.cmd = nil
				if err != nil {
					out, _ := os.ReadFile(s.log)
					t.Errorf("serve exited with %v after %s\n%s", err, sig, tail(string(out), 20))
				}
			case <-time.After(time.Minute): // a hang guard, not a timing check
				s.kill()
				t.Fatalf("serve did not exit after %s", sig)
			}
			out, _ := os.ReadFile(s.log)
			if !strings.Contains(string(out), "shutting down") {
				t.Errorf("no shutdown in the log:\n%s", tail(string(out), 20))
			}
		})
	}
}
