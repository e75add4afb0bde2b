package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/web"
)

// The demo's fixed names.
const (
	demoProject = "orders" // project name, and the repository name in webhooks
	demoBuild   = "orders" // the sample's builds: entry
	demoBranch  = "main"
	// demoLabel is put on every container the demo's cluster starts, with
	// the demo's id as value: it keeps two demos (or a demo and a test) on
	// one Docker Engine out of each other's way, and is how the demo finds
	// its containers to remove them.
	demoLabel = "mainline.demo"
	// demoTokenName is the admin token's name in the store.
	demoTokenName = "demo-admin"
)

// Timings of the demo's controller: a periodic resync catches a push whose
// hook could not deliver, and a short health deadline rolls a broken
// version back while the user watches.
const (
	demoResync         = 30 * time.Second
	demoHealthDeadline = 20 * time.Second
	demoPollEvery      = 500 * time.Millisecond
)

// demoHelp is the long help of `mainline demo`.
const demoHelp = `Run the whole loop on this machine: a sample orders service in a local git
repository, and Mainline deploying every push to main on the local Docker
Engine — tagged, built, rolled out health-gated, verified, rolled back when
it fails.

The demo needs Go, git and a running Docker Engine. Everything lives under
the data directory (default ./mainline-demo): the bare repository
orders.git, your clone orders/, Mainline's SQLite database, the webhook
secret, the admin token, and a Go module proxy, goproxy/, holding a newer
version of a module the service requires (for mainline deps run). Running
the demo again reuses all of it; --reset removes it, with the demo's
containers and images, and starts clean. Ctrl-C stops everything the demo
started.

Environment:
  MAINLINE_DEMO_LABELS  extra labels, k=v[,k=v…], put on every container the
                        demo starts`

// newDemoCmd is `mainline demo`.
func newDemoCmd(getenv func(string) string) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Deploy a sample service on this machine and watch each push roll out",
		Long:  demoHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			labels, err := parseLabels(getenv("MAINLINE_DEMO_LABELS"))
			if err != nil {
				return fmt.Errorf("MAINLINE_DEMO_LABELS: %w", err)
			}
			o.labels = labels
			deps, rest, err := cmd.Root().Find([]string{"deps", "run"})
			o.depsRun = err == nil && len(rest) == 0 && deps.Name() == "run"
			return runDemo(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "mainline-demo", "data directory of the demo")
	cmd.Flags().BoolVar(&o.reset, "reset", false, "remove the data directory and the demo's containers and images first, and start clean")
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address of Mainline's HTTP server")
	cmd.AddCommand(newDemoHookCmd())
	return cmd
}

type demoOptions struct {
	dir     string
	reset   bool
	addr    string
	labels  map[string]string // extra container labels
	depsRun bool              // `mainline deps run` exists, so suggest it
}

// parseLabels parses "k=v,k=v".
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for kv := range strings.SplitSeq(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("want k=v, got %q", kv)
		}
		out[k] = v
	}
	return out, nil
}

// demo is one run of `mainline demo`.
type demo struct {
	opts  demoOptions
	dir   string // absolute data directory
	out   io.Writer
	cli   *client.Client
	state demoState
}

// demoState is what the demo remembers between runs, in demo.json. The
// file also marks the directory as the demo's, so --reset never removes a
// directory it did not make.
type demoState struct {
	ID       string `json:"id"`       // value of demoLabel on the demo's containers
	Registry string `json:"registry"` // loopback address of the local registry
}

func (d *demo) path(name ...string) string { return filepath.Join(append([]string{d.dir}, name...)...) }

// runDemo is `mainline demo`: check what it needs, prepare (or reuse) the
// repository, clone and secrets, run Mainline until ctx ends, then stop
// everything it started.
func runDemo(ctx context.Context, o demoOptions, out, errOut io.Writer) error {
	fail := func(format string, args ...any) error {
		fmt.Fprintf(errOut, "mainline demo: "+format+"\n", args...)
		return exitCode(1)
	}
	cli, err := docker.NewClient()
	if err != nil {
		return fail("%v", err)
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = cli.Ping(pctx)
	cancel()
	if err != nil {
		return fail("the Docker Engine is not reachable at %s — start Docker and try again", cli.DaemonHost())
	}
	for _, tool := range []struct{ name, why string }{
		{"go", "to build the sample service"},
		{"git", "for the sample service's repository"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			return fail("%s is not on PATH; the demo needs it %s — install it and try again", tool.name, tool.why)
		}
	}
	if err := checkFree(o.addr); err != nil {
		return fail("%v — stop what listens there, or pass --addr 127.0.0.1:PORT", err)
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return fmt.Errorf("--dir %s: %w", o.dir, err)
	}
	d := &demo{opts: o, dir: dir, out: out, cli: cli}
	if o.reset {
		if err := d.reset(ctx); err != nil {
			return err
		}
	}
	return d.run(ctx)
}

// checkFree reports whether addr can be listened on.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln.Close()
}

func (d *demo) run(ctx context.Context) error {
	fmt.Fprintf(d.out, "mainline demo in %s\n", d.dir)
	if err := d.loadState(); err != nil {
		return err
	}
	created, err := d.prepareRepo(ctx)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(d.out, "  created the orders service's repository and your clone\n")
	}
	secret, err := readOrCreateSecret(d.path("webhook-secret"), randomSecret)
	if err != nil {
		return err
	}
	sessionKey, err := readOrCreateSecret(d.path("session-key"), randomSecret)
	if err != nil {
		return err
	}
	token, err := readOrCreateSecret(d.path("admin-token"), newToken)
	if err != nil {
		return err
	}
	bin, err := installSelf(d.path("bin", "mainline"))
	if err != nil {
		return err
	}
	goproxy, err := writeDemoProxy(d.path(demoProxyDir))
	if err != nil {
		return err
	}
	if err := d.installHook(bin); err != nil {
		return err
	}

	logFile, err := os.OpenFile(d.path("mainline.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer logFile.Close()
	logger := slog.New(slog.NewJSONHandler(logFile, nil))

	labels := map[string]string{demoLabel: d.state.ID}
	for k, v := range d.opts.labels {
		labels[k] = v
	}
	s := settings{
		Addr:           d.opts.addr,
		DataDir:        d.dir,
		DatabaseURL:    "sqlite://" + d.path("mainline.db"),
		WebhookSecrets: []string{secret},
		RegistryAddr:   d.state.Registry,
		Resync:         demoResync,
		PublicURL:      "http://" + d.opts.addr + "/",
		HealthDeadline: demoHealthDeadline,
		ClusterLabels:  labels,
		// On loopback, anyone may look; deploying, rolling back and
		// pausing need the admin token.
		PublicRead: true,
		SessionKey: sessionKey,
		// Dependents day, when its schedule comes, upgrades from the
		// demo's module proxy, whose modules no checksum database knows.
		GoProxy: goproxy,
		GoEnv:   []string{"GONOSUMDB=" + greetingModule},
	}
	p, closeProviders, err := localProviders(ctx, &s, logger)
	if err != nil {
		return err
	}
	providersOpen := true
	closeOnce := func() {
		if providersOpen {
			providersOpen = false
			closeProviders()
		}
	}
	defer closeOnce()
	srv, err := newServer(ctx, s, logger, p)
	if err != nil {
		return err
	}
	defer srv.close()
	proj, err := d.ensureProject(ctx, srv.store)
	if err != nil {
		return err
	}
	if err := ensureToken(ctx, srv.store, token); err != nil {
		return err
	}

	w := &demoWatcher{st: srv.store, projectID: proj.ID, out: d.out}
	if err := w.start(ctx); err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serveHTTP(ctx, logger, s.Addr, srv, io.Discard) }()
	fmt.Fprintf(d.out, "  mainline is listening on http://%s (logs: %s)\n", s.Addr, d.path("mainline.log"))

	endpoint := ""
	tick := time.NewTicker(demoPollEvery)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case err := <-serveErr:
			// The server stopped by itself: the address was taken
			// meanwhile, or the controller failed.
			runErr = err
			if runErr == nil {
				runErr = errors.New("the server stopped")
			}
			serveErr = nil
			break loop
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		ready, err := w.poll(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Warn("demo progress", "err", err)
		}
		if ready && endpoint == "" {
			endpoint, err = srv.controller.Providers.Cluster.Endpoint(ctx, demoProject, demoBuild)
			if err != nil {
				runErr = fmt.Errorf("service endpoint: %w", err)
				break loop
			}
			d.printWelcome(ctx, s.Addr, endpoint, token, bin, goproxy)
		}
	}

	// Stop everything, in the order that leaves nothing behind: the server
	// and the controller first (so nothing new starts), then the
	// containers, then the proxies and the registry.
	var stopped []string
	if serveErr != nil {
		if err := <-serveErr; err != nil && runErr == nil {
			runErr = err
		}
	}
	stopped = append(stopped, "the server on http://"+s.Addr, "the controller")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n, err := removeContainers(cctx, d.cli, d.state.ID)
	if err != nil {
		runErr = errors.Join(runErr, err)
	}
	stopped = append(stopped, fmt.Sprintf("%d container%s of %s", n, plural(n), demoProject))
	closeOnce()
	if endpoint != "" {
		stopped = append(stopped, "the proxy on "+endpoint)
	}
	stopped = append(stopped, "the registry on "+s.Registry)
	fmt.Fprintf(d.out, "\nstopped %s\n", strings.Join(stopped, ", "))
	return runErr
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// loadState reads demo.json, or starts a new demo: a new id and a free
// port for the registry. The registry keeps its port across runs so the
// image names recorded in the store stay valid; if something else took
// it meanwhile, a new one is chosen.
func (d *demo) loadState() error {
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	data, err := os.ReadFile(d.path("demo.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		entries, err := os.ReadDir(d.dir)
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if len(entries) > 0 {
			return fmt.Errorf("%s is not empty and was not made by mainline demo (no demo.json); pick another --dir", d.dir)
		}
		id := make([]byte, 6)
		if _, err := rand.Read(id); err != nil {
			return err
		}
		d.state.ID = hex.EncodeToString(id)
	case err != nil:
		return fmt.Errorf("demo state: %w", err)
	default:
		if err := json.Unmarshal(data, &d.state); err != nil || d.state.ID == "" {
			return fmt.Errorf("demo state %s is damaged; run mainline demo --reset", d.path("demo.json"))
		}
	}
	if d.state.Registry == "" || checkFree(d.state.Registry) != nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("registry port: %w", err)
		}
		d.state.Registry = ln.Addr().String()
		ln.Close()
	}
	data, err = json.MarshalIndent(d.state, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(d.path("demo.json"), append(data, '\n'), 0o640)
}

// reset removes the demo's containers, its images and its data directory.
// A directory without demo.json is left alone unless it is empty.
func (d *demo) reset(ctx context.Context) error {
	data, err := os.ReadFile(d.path("demo.json"))
	if errors.Is(err, fs.ErrNotExist) {
		entries, err := os.ReadDir(d.dir)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
			return nil
		}
		return fmt.Errorf("--reset: %s was not made by mainline demo (no demo.json); remove it yourself if you mean to", d.dir)
	}
	if err != nil {
		return fmt.Errorf("--reset: %w", err)
	}
	var st demoState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("--reset: %s: %w", d.path("demo.json"), err)
	}
	nc, ni := 0, 0
	if st.ID != "" {
		if nc, err = removeContainers(ctx, d.cli, st.ID); err != nil {
			return fmt.Errorf("--reset: %w", err)
		}
	}
	if st.Registry != "" {
		if ni, err = removeImages(ctx, d.cli, st.Registry+"/"+demoProject+"/"); err != nil {
			return fmt.Errorf("--reset: %w", err)
		}
	}
	if err := os.RemoveAll(d.dir); err != nil {
		return fmt.Errorf("--reset: %w", err)
	}
	fmt.Fprintf(d.out, "reset: removed %d container%s, %d image%s and %s\n", nc, plural(nc), ni, plural(ni), d.dir)
	return nil
}

// removeContainers removes every container labelled demoLabel=id and says
// how many there were.
func removeContainers(ctx context.Context, cli *client.Client, id string) (int, error) {
	f := filters.NewArgs(filters.Arg("label", demoLabel+"="+id))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list the demo's containers: %w", err)
	}
	var errs []error
	for _, c := range cs {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", short(c.ID), err))
		}
	}
	return len(cs), errors.Join(errs...)
}

// removeImages removes the images of the demo's project tagged under
// prefix (the demo's registry) and says how many there were.
func removeImages(ctx context.Context, cli *client.Client, prefix string) (int, error) {
	f := filters.NewArgs(filters.Arg("label", docker.LabelProject+"="+demoProject))
	imgs, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list the demo's images: %w", err)
	}
	n := 0
	var errs []error
	for _, im := range imgs {
		if !slices.ContainsFunc(im.RepoTags, func(t string) bool { return strings.HasPrefix(t, prefix) }) {
			continue
		}
		n++
		if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove image %s: %w", short(strings.TrimPrefix(im.ID, "sha256:")), err))
		}
	}
	return n, errors.Join(errs...)
}

// prepareRepo makes sure the bare repository holds the sample service on
// main and the user has a clone of it that can commit and push. It
// reports whether it made the repository.
func (d *demo) prepareRepo(ctx context.Context) (bool, error) {
	bare, clone := d.path(demoProject+".git"), d.path(demoProject)
	created := false
	if _, err := os.Stat(bare); errors.Is(err, fs.ErrNotExist) {
		if _, err := runGit(ctx, d.dir, "init", "-q", "--bare", "-b", demoBranch, bare); err != nil {
			return false, err
		}
		created = true
	}
	if _, err := os.Stat(filepath.Join(clone, ".git")); errors.Is(err, fs.ErrNotExist) {
		if _, err := runGit(ctx, d.dir, "clone", "-q", bare, clone); err != nil {
			return false, err
		}
	}
	if err := ensureIdentity(ctx, clone); err != nil {
		return false, err
	}
	if _, err := runGit(ctx, d.dir, "--git-dir", bare, "rev-parse", "-q", "--verify", "refs/heads/"+demoBranch); err == nil {
		return created, nil
	}
	// The repository is empty: commit the sample service in the clone
	// (unless an earlier run got that far) and push it.
	if _, err := runGit(ctx, clone, "rev-parse", "-q", "--verify", "HEAD"); err != nil {
		if _, err := runGit(ctx, clone, "symbolic-ref", "HEAD", "refs/heads/"+demoBranch); err != nil {
			return false, err
		}
		if err := writeSample(clone); err != nil {
			return false, err
		}
		if _, err := runGit(ctx, clone, "add", "-A"); err != nil {
			return false, err
		}
		if _, err := runGit(ctx, clone, "commit", "-q", "-m", "Add the orders service"); err != nil {
			return false, err
		}
	}
	if _, err := runGit(ctx, clone, "push", "-q", "-u", "origin", demoBranch); err != nil {
		return false, err
	}
	return true, nil
}

// ensureIdentity gives the clone a committer identity, in its own config
// only, when the user has none.
func ensureIdentity(ctx context.Context, clone string) error {
	for _, kv := range [][2]string{{"user.name", "Mainline Demo"}, {"user.email", "demo@localhost"}} {
		if v, err := runGit(ctx, clone, "config", kv[0]); err == nil && v != "" {
			continue
		}
		if _, err := runGit(ctx, clone, "config", "--local", kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// installHook (re)writes the bare repository's post-receive hook, which
// delivers each push to this run's server as a signed GitHub push webhook.
func (d *demo) installHook(bin string) error {
	url := "http://" + d.opts.addr + "/webhooks/github"
	script := fmt.Sprintf(`#!/bin/sh
# Installed by mainline demo (rewritten each time it starts): delivers each
# push to Mainline as a signed GitHub push webhook.
exec %s demo hook --url %s --secret-file %s --repo %s
`, shellQuote(bin), shellQuote(url), shellQuote(d.path("webhook-secret")), shellQuote(demoProject))
	return writeFileAtomic(d.path(demoProject+".git", "hooks", "post-receive"), []byte(script), 0o755)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// installSelf copies the running binary to dst (unless an identical copy
// is there) and returns dst. The hook runs that copy: under `go run` the
// running binary is a temporary file that is gone when the demo stops.
func installSelf(dst string) (string, error) {
	src, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the mainline binary: %w", err)
	}
	if src, err = filepath.EvalSymlinks(src); err != nil {
		return "", fmt.Errorf("find the mainline binary: %w", err)
	}
	if src == dst {
		return dst, nil
	}
	want, err := fileHash(src)
	if err != nil {
		return "", fmt.Errorf("read the mainline binary: %w", err)
	}
	if have, err := fileHash(dst); err == nil && bytes.Equal(have, want) {
		return dst, nil
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("copy the mainline binary: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return "", fmt.Errorf("copy the mainline binary: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".mainline-*")
	if err != nil {
		return "", fmt.Errorf("copy the mainline binary: %w", err)
	}
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o755)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("copy the mainline binary to %s: %w", dst, err)
	}
	return dst, nil
}

func fileHash(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// readOrCreateSecret returns the secret kept in path, creating one with
// gen (readable only by the user) the first time.
func readOrCreateSecret(path string, gen func() (string, error)) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(data))
		if s == "" {
			return "", fmt.Errorf("%s is empty; delete it to get a new one", path)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	s, err := gen()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	_, err = f.WriteString(s + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return s, nil
}

// randomSecret returns 32 random bytes in hex.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ensureProject registers the demo's project, or finds it registered by
// an earlier run.
func (d *demo) ensureProject(ctx context.Context, st store.Store) (store.Project, error) {
	bare := d.path(demoProject + ".git")
	p, err := st.ProjectByName(ctx, demoProject)
	if errors.Is(err, store.ErrNotFound) {
		return st.CreateProject(ctx, store.Project{Name: demoProject, SCM: "git", Location: bare, Branch: demoBranch})
	}
	if err != nil {
		return p, fmt.Errorf("project %s: %w", demoProject, err)
	}
	if p.SCM != "git" || p.Location != bare {
		return p, fmt.Errorf("project %s watches %s, not %s (was the data directory moved?); run mainline demo --reset", demoProject, p.Location, bare)
	}
	return p, nil
}

// ensureToken stores the admin token's hash, unless it is stored already.
func ensureToken(ctx context.Context, st store.Store, token string) error {
	hash := web.HashToken(token)
	_, err := st.TokenByHash(ctx, hash)
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("admin token: %w", err)
	}
	name := demoTokenName
	for i := 2; ; i++ {
		_, err := st.AddToken(ctx, store.Token{Name: name, Hash: hash, CreatedAt: time.Now().UTC()})
		if !errors.Is(err, store.ErrConflict) || i > 100 {
			if err != nil {
				return fmt.Errorf("admin token: %w", err)
			}
			return nil
		}
		// The token file was replaced; keep the old token's row and
		// name the new one apart.
		name = fmt.Sprintf("%s-%d", demoTokenName, i)
	}
}

// runGit runs git in dir and returns its trimmed output.
func runGit(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// printWelcome says where everything is and what to try, once the first
// version is live.
func (d *demo) printWelcome(ctx context.Context, addr, endpoint, token, bin, goproxy string) {
	clone := d.path(demoProject)
	dashboard := "http://" + addr + "/"
	if servesDashboard(ctx, dashboard) {
		dashboard += " (sign in with the admin token to deploy, roll back or pause)"
	} else {
		dashboard = fmt.Sprintf("not in this build yet; for the same facts run\n                MAINLINE_DATA_DIR=%s mainline status %s", shellQuote(d.dir), demoProject)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe demo is running.\n\n")
	fmt.Fprintf(&b, "  dashboard:    %s\n", dashboard)
	fmt.Fprintf(&b, "  service:      %s/\n", endpoint)
	fmt.Fprintf(&b, "  your clone:   %s\n", clone)
	fmt.Fprintf(&b, "  admin token:  %s (kept in %s)\n", token, d.path("admin-token"))
	fmt.Fprintf(&b, "\nThings to try:\n")
	fmt.Fprintf(&b, "  1. Change the greeting in %s, then\n", filepath.Join(clone, "main.go"))
	fmt.Fprintf(&b, "       cd %s && git commit -am 'New greeting' && git push\n", shellQuote(clone))
	fmt.Fprintf(&b, "     Mainline tags the next version, builds it, rolls it out one instance\n")
	fmt.Fprintf(&b, "     at a time without dropping a request, and verifies it.\n")
	fmt.Fprintf(&b, "  2. Set `healthy = false` in main.go, commit and push: the new version\n")
	fmt.Fprintf(&b, "     fails its health checks and Mainline rolls back on its own.\n")
	if d.opts.depsRun {
		fmt.Fprintf(&b, "  3. Run dependents day now: the service requires %s\n", greetingModule)
		fmt.Fprintf(&b, "     %s, and the demo's module proxy (%s) has %s.\n", greetingCurrent, d.path(demoProxyDir), greetingNewest)
		fmt.Fprintf(&b, "       %s \\\n         %s deps run\n", strings.Join(depsEnv(d.dir, goproxy), " "), shellQuote(bin))
		fmt.Fprintf(&b, "     Mainline opens an upgrade pull request, runs its checks, merges it, and\n")
		fmt.Fprintf(&b, "     the merge deploys like any push. Then git pull in your clone.\n")
	}
	fmt.Fprintf(&b, "\nPress Ctrl-C to stop the demo and everything it started.\n\n")
	io.WriteString(d.out, b.String())
}

// depsEnv is the environment, as shell assignments, that points
// `mainline deps run` at the demo: its data directory (so its store and
// projects), its module proxy, and no checksum database for the proxy's
// module.
func depsEnv(dir, goproxy string) []string {
	return []string{
		"MAINLINE_DATA_DIR=" + shellQuote(dir),
		"MAINLINE_GOPROXY=" + shellQuote(goproxy),
		"GONOSUMDB=" + shellQuote(greetingModule),
	}
}

// servesDashboard reports whether url answers with a page (the dashboard
// is mounted) rather than 404.
func servesDashboard(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 400
}

// demoWatcher prints the project's progress as one line per change, and
// the events a user should see (rollbacks, failures), by polling the
// store.
type demoWatcher struct {
	st        store.Store
	projectID int64
	out       io.Writer
	line      string // last progress line printed
	lastEvent int64  // newest event printed (or skipped as old)
}

// noteworthy reports whether events of a kind are printed as they
// happen: the ones that say something went wrong.
func noteworthy(kind string) bool {
	switch kind {
	case "rolled_back", "build_failed", "verify_failed", "stalled", "error":
		return true
	}
	return false
}

// start skips the events of earlier runs.
func (w *demoWatcher) start(ctx context.Context) error {
	evs, err := w.st.Events(ctx, store.EventQuery{ProjectID: w.projectID, Limit: 1})
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if len(evs) > 0 {
		w.lastEvent = evs[0].ID
	}
	return nil
}

// poll prints what changed and reports whether the desired version is
// live and its verification finished.
func (w *demoWatcher) poll(ctx context.Context) (bool, error) {
	evs, err := w.st.Events(ctx, store.EventQuery{ProjectID: w.projectID, Limit: 50})
	if err != nil {
		return false, fmt.Errorf("events: %w", err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.ID <= w.lastEvent {
			continue
		}
		w.lastEvent = e.ID
		if noteworthy(e.Kind) {
			fmt.Fprintf(w.out, "  %s  ! %s\n", e.At.Local().Format("15:04:05"), firstLine(e.Message))
		}
	}
	line, ready, err := demoProgress(ctx, w.st, w.projectID)
	if err != nil {
		return false, err
	}
	if line != "" && line != w.line {
		w.line = line
		fmt.Fprintf(w.out, "  %s  %s\n", time.Now().Format("15:04:05"), line)
	}
	return ready, nil
}

// demoProgress says in one line where the project is on its way to its
// newest version, and whether it is there (live and verified).
func demoProgress(ctx context.Context, st store.Store, projectID int64) (string, bool, error) {
	tags, err := st.Tags(ctx, projectID)
	if err != nil {
		return "", false, err
	}
	head, err := st.Head(ctx, projectID, demoBranch)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", false, err
	}
	if head.SHA == "" || !slices.ContainsFunc(tags, func(t store.Tag) bool { return t.SHA == head.SHA }) {
		return "tagging…", false, nil
	}
	builds, err := st.Builds(ctx, projectID, 1)
	if err != nil {
		return "", false, err
	}
	if len(builds) > 0 {
		switch b := builds[0]; b.Status {
		case store.BuildPending, store.BuildRunning:
			return fmt.Sprintf("building %s %s…", b.Name, b.Version), false, nil
		}
	}
	d, err := st.Desired(ctx, projectID, demoBuild)
	if errors.Is(err, store.ErrNotFound) {
		if len(builds) > 0 && builds[0].Status == store.BuildFailed {
			return fmt.Sprintf("build of %s %s failed: fix it and push", builds[0].Name, builds[0].Version), false, nil
		}
		return fmt.Sprintf("building %s %s…", demoBuild, tags[0].Name), false, nil
	}
	if err != nil {
		return "", false, err
	}
	last, err := st.Last(ctx, projectID, demoBuild)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", false, err
	}
	healthy, others := 0, 0
	for v, n := range last.Versions {
		if v == d.Version {
			healthy = n
		} else {
			others += n
		}
	}
	if healthy < d.Instances || others > 0 {
		verb := "deploying"
		if d.SetBy == "rollback" {
			verb = "rolling back to"
		}
		return fmt.Sprintf("%s %s (%d/%d healthy)…", verb, d.Version, healthy, d.Instances), false, nil
	}
	runs, err := st.VerifyRuns(ctx, projectID, 20)
	if err != nil {
		return "", false, err
	}
	for _, r := range runs {
		if r.Version != d.Version || r.Trigger != controller.TriggerRollout {
			continue
		}
		switch r.Status {
		case controller.RunRunning:
		case controller.RunPassed:
			return fmt.Sprintf("%s is live ×%d and verified", d.Version, d.Instances), true, nil
		case controller.RunSkipped:
			return fmt.Sprintf("%s is live ×%d", d.Version, d.Instances), true, nil
		case controller.RunFailed:
			return fmt.Sprintf("%s failed verification…", d.Version), false, nil
		default:
			return fmt.Sprintf("%s is live ×%d; its verification could not run: %s", d.Version, d.Instances, firstLine(r.Summary)), true, nil
		}
		break
	}
	return fmt.Sprintf("verifying %s…", d.Version), false, nil
}
