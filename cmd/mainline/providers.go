package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/providers/docker"
)

// localProviders connects to the Docker Engine and returns the builder,
// registry and cluster that run everything on this machine. When no
// registry is configured it serves one on loopback (s.Registry is set to
// its address). The returned func releases what it started.
func localProviders(ctx context.Context, s *settings, logger *slog.Logger) (controller.Providers, func(), error) {
	cli, err := docker.NewClient()
	if err != nil {
		return controller.Providers{}, nil, fmt.Errorf("docker: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return controller.Providers{}, nil, fmt.Errorf("the Docker Engine is not reachable (%v); Mainline needs it to build and run images", err)
	}
	var closers []func()
	if s.Registry == "" {
		addr, stop, err := serveRegistry(s.RegistryAddr, filepath.Join(s.DataDir, "registry"), logger)
		if err != nil {
			cli.Close()
			return controller.Providers{}, nil, err
		}
		s.Registry = addr
		closers = append(closers, stop)
	}
	ports, err := newPortBook(filepath.Join(s.DataDir, "proxy-ports.json"))
	if err != nil {
		cli.Close()
		return controller.Providers{}, nil, err
	}
	cluster, err := docker.NewCluster(docker.ClusterConfig{Client: cli, Logger: logger, ProxyPorts: ports.port,
		Health: docker.HealthConfig{StartDeadline: s.HealthDeadline}, Labels: s.ClusterLabels})
	if err != nil {
		cli.Close()
		return controller.Providers{}, nil, fmt.Errorf("cluster: %w", err)
	}
	p := controller.Providers{
		Builder:  docker.LimitBuilds(&docker.Builder{Client: cli, Logger: logger}, 2),
		Registry: &docker.Registry{},
		Cluster:  cluster,
	}
	closeAll := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cluster.Close(cctx); err != nil {
			logger.Warn("close cluster", "err", err)
		}
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		cli.Close()
	}
	return p, closeAll, nil
}

// serveRegistry serves an OCI registry on addr (loopback) with blobs on
// disk under dir, for machines without one. Manifests are kept in memory:
// after a restart the registry forgets tags, which only means a build
// whose record is lost would be rebuilt.
func serveRegistry(addr, dir string, logger *slog.Logger) (string, func(), error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", nil, fmt.Errorf("registry: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("registry: listen %s: %w", addr, err)
	}
	h := registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)), registry.Logger(slog.NewLogLogger(logger.Handler(), slog.LevelDebug)))
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("registry stopped", "err", err)
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}
	logger.Info("serving a local registry", "addr", ln.Addr().String(), "blobs", dir)
	return ln.Addr().String(), stop, nil
}

// portBook gives each build's proxy a loopback port that stays the same
// across restarts: the first time a build is seen a free port is chosen and
// written to a file in the data directory.
type portBook struct {
	path  string
	mu    sync.Mutex
	ports map[string]int
}

func newPortBook(path string) (*portBook, error) {
	b := &portBook{path: path, ports: map[string]int{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("proxy ports: %w", err)
	default:
		if err := json.Unmarshal(data, &b.ports); err != nil {
			return nil, fmt.Errorf("proxy ports %s: %w", path, err)
		}
	}
	return b, nil
}

func (b *portBook) port(project, build string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := project + "/" + build
	if p, ok := b.ports[key]; ok {
		return p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0 // the cluster picks one itself
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b.ports[key] = p
	data, _ := json.MarshalIndent(b.ports, "", "  ")
	tmp := b.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err == nil {
		_ = os.Rename(tmp, b.path)
	}
	return p
}
