package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	archive "github.com/moby/go-archive"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/mainline-cd/mainline/providers"
)

// DefaultBuildTimeout bounds a build whose spec sets no Timeout.
const DefaultBuildTimeout = 10 * time.Minute

// logTailLines is how many of the last build log lines a BuildError keeps.
const logTailLines = 20

// Clock tells the time. Tests pass a fixed one; nil means the system clock.
type Clock interface {
	Now() time.Time
}

// now reads c, or the system clock when c is nil.
func now(c Clock) time.Time {
	if c == nil {
		return time.Now()
	}
	return c.Now()
}

// BuildClient is the part of the Docker Engine API a Builder uses;
// *client.Client from github.com/docker/docker/client has it (see
// NewClient).
type BuildClient interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImagePush(ctx context.Context, image string, options image.PushOptions) (io.ReadCloser, error)
}

var _ BuildClient = (*client.Client)(nil)

// Builder builds images with the Docker Engine API and pushes them. For
// each build it checks the source out into a fresh temporary directory,
// runs the build command there, sends the context directory (less what
// .dockerignore excludes) to the engine's classic builder, and pushes the
// tagged image with credentials from Auth.
//
// The image gets the OCI labels org.opencontainers.image.revision,
// .version, .source and .created, and mainline.project, .build and
// .version, added as one LABEL instruction at the end of the Dockerfile
// (the classic builder would make a step, and a container, of each label
// passed as a build option). Before pushing it asks the registry whether the
// credentials may push, so a refusal fails in a moment rather than after
// the engine's retries.
//
// The image is left in the engine after the push: its layers are the build
// cache for the next version.
type Builder struct {
	// Client talks to the Docker Engine. Required.
	Client BuildClient
	// Auth supplies push credentials; nil pushes anonymously.
	Auth Auth
	// Clock stamps org.opencontainers.image.created; nil is the system clock.
	Clock Clock
	// Logger gets one line per build started and finished (never build
	// output, which goes to the log writer); nil discards.
	Logger *slog.Logger
	// TempDir is where checkouts are made; "" is os.TempDir().
	TempDir string
}

var _ providers.Builder = (*Builder)(nil)

// BuildError is a build that failed because of what it was given — the
// source, the build command, the Dockerfile, the time it took, or the
// registry refusing the push — as opposed to the Docker Engine being
// unreachable. Its message is one line naming the failing step; Tail holds
// the end of the build log.
type BuildError struct {
	Phase  string   // "checkout", "command", "build" or "push"
	Step   string   // Dockerfile step that failed, "step 3/5: COPY app /app"; "" outside one
	Reason string   // one line
	Tail   []string // the last lines of the build log
	Err    error    // the cause, when there is one to test with errors.Is
}

func (e *BuildError) Error() string {
	where := e.Step
	if where == "" {
		switch e.Phase {
		case "command":
			where = "build command"
		case "build":
			where = "image build"
		default:
			where = e.Phase
		}
	}
	return where + ": " + e.Reason
}

func (e *BuildError) Unwrap() error { return e.Err }

// Build checks src out at spec.Revision, runs spec.Command, builds
// spec.Image from spec.Context and spec.Dockerfile, pushes it and returns
// the pushed manifest digest. Everything the command and the engine print is
// written to log as it comes. spec.Timeout (default DefaultBuildTimeout)
// bounds the whole build, push included, so a stuck build frees its slot.
//
// Failures caused by the input are *BuildError values, wrapped with the
// project, build and version.
func (b *Builder) Build(ctx context.Context, src providers.Source, spec providers.BuildSpec, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	logger := b.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("project", spec.Project, "build", spec.Build, "version", spec.Version)
	start := now(b.Clock)
	logger.InfoContext(ctx, "build started", "image", spec.Image, "revision", spec.Revision)

	tail := newTailWriter(log, logTailLines)
	digest, err := b.build(ctx, src, spec, tail)
	if err != nil {
		var be *BuildError
		if errors.As(err, &be) {
			be.Tail = tail.Lines()
		}
		logger.WarnContext(ctx, "build failed", "err", err)
		return "", fmt.Errorf("build %s/%s@%s: %w", spec.Project, spec.Build, spec.Version, err)
	}
	logger.InfoContext(ctx, "build pushed", "image", spec.Image, "digest", digest, "took", now(b.Clock).Sub(start))
	return digest, nil
}

// build does the work of Build; errors are not yet wrapped with the build's
// name.
func (b *Builder) build(parent context.Context, src providers.Source, spec providers.BuildSpec, log *tailWriter) (string, error) {
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = DefaultBuildTimeout
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	// fail turns an error into a timeout BuildError when the build's own
	// deadline, not the caller, ended it.
	fail := func(phase string, err error) error {
		if parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &BuildError{Phase: phase, Reason: fmt.Sprintf("timed out after %s", timeout), Err: context.DeadlineExceeded}
		}
		if parent.Err() != nil {
			return fmt.Errorf("%s: %w", phase, parent.Err())
		}
		return err
	}

	dir, err := os.MkdirTemp(b.TempDir, "mainline-build-")
	if err != nil {
		return "", fmt.Errorf("checkout directory: %w", err)
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(log, "==> checkout %s\n", spec.Revision)
	if err := checkout(ctx, src, spec.Revision, dir); err != nil {
		return "", fail("checkout", err)
	}

	if spec.Command != "" {
		fmt.Fprintf(log, "==> %s\n", spec.Command)
		if err := runCommand(ctx, dir, spec.Command, log); err != nil {
			return "", fail("command", err)
		}
	}

	fmt.Fprintf(log, "==> docker build -t %s\n", spec.Image)
	if err := b.imageBuild(ctx, dir, spec, log); err != nil {
		return "", fail("build", err)
	}

	fmt.Fprintf(log, "==> docker push %s\n", spec.Image)
	digest, err := b.push(ctx, spec.Image, log)
	if err != nil {
		return "", fail("push", err)
	}
	fmt.Fprintf(log, "==> pushed %s@%s\n", spec.Image, digest)
	return digest, nil
}

// checkout writes the tree of src at rev into dir.
func checkout(ctx context.Context, src providers.Source, rev, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("checkout %s: %w", rev, err)
	}
	defer root.Close()

	pr, pw := io.Pipe()
	archiveErr := make(chan error, 1)
	go func() {
		err := src.Archive(ctx, rev, pw)
		pw.CloseWithError(err)
		archiveErr <- err
	}()
	extractErr := extractTar(pr, root)
	if extractErr == nil {
		// A tar stream's end marker may be followed by padding (git
		// archive pads to a 10 KiB record): read it, or the archiver
		// fails writing it.
		_, _ = io.Copy(io.Discard, pr)
	}
	// Unblock the archiver if extraction stopped early.
	pr.CloseWithError(errors.New("checkout stopped"))
	if err := <-archiveErr; err != nil {
		if errors.Is(err, providers.ErrNotFound) {
			return &BuildError{Phase: "checkout", Reason: fmt.Sprintf("revision %s not found", rev), Err: err}
		}
		if extractErr == nil {
			return fmt.Errorf("checkout %s: %w", rev, err)
		}
	}
	if extractErr != nil {
		return &BuildError{Phase: "checkout", Reason: extractErr.Error(), Err: extractErr}
	}
	return nil
}

// extractTar writes the regular files, directories and symbolic links of a
// tar stream under root. root keeps every write inside it, whatever the
// names and links in the stream say.
func extractTar(r io.Reader, root *os.Root) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading source tar: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("source tar: path %q leaves the tree", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, 0o755)
		case tar.TypeReg:
			err = writeFile(root, name, fs.FileMode(hdr.Mode).Perm()|0o600, tr)
		case tar.TypeSymlink:
			if err = root.MkdirAll(path.Dir(name), 0o755); err == nil {
				err = root.Symlink(hdr.Linkname, name)
			}
		default:
			// git archive writes a pax global header carrying the commit;
			// hard links, devices and fifos have no place in a source tree.
			continue
		}
		if err != nil {
			return fmt.Errorf("source tar: %s: %w", name, err)
		}
	}
}

func writeFile(root *os.Root, name string, perm fs.FileMode, r io.Reader) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runCommand runs command with `sh -c` in dir, with the process environment
// and CGO_ENABLED=0 (images are FROM scratch, so binaries must be static),
// writing its output to log. When ctx ends the whole process group is
// killed, so a command's children cannot keep it running.
func runCommand(ctx context.Context, dir, command string, log io.Writer) error {
	out := newTailWriter(log, 5)
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout = out
	cmd.Stderr = out
	killProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		reason := fmt.Sprintf("%q: exit code %d", command, ee.ExitCode())
		if last := lastLine(out.Lines()); last != "" {
			reason += ": " + last
		}
		return &BuildError{Phase: "command", Reason: reason, Err: err}
	}
	return &BuildError{Phase: "command", Reason: fmt.Sprintf("%q: %v", command, err), Err: err}
}

// imageBuild sends the context directory to the engine and builds
// spec.Image, streaming the engine's output to log.
func (b *Builder) imageBuild(ctx context.Context, dir string, spec providers.BuildSpec, log io.Writer) error {
	contextDir := spec.Context
	if contextDir == "" {
		contextDir = "."
	}
	if !filepath.IsLocal(filepath.FromSlash(contextDir)) {
		return &BuildError{Phase: "build", Reason: fmt.Sprintf("context %q is outside the repository", spec.Context)}
	}
	dockerfile := spec.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	dockerfile = path.Clean(filepath.ToSlash(dockerfile))
	if !filepath.IsLocal(filepath.FromSlash(dockerfile)) {
		return &BuildError{Phase: "build", Reason: fmt.Sprintf("dockerfile %q is outside the context", spec.Dockerfile)}
	}

	// The context is resolved through any symbolic links in the tree and
	// must still be inside the checkout: a link to a host directory would
	// otherwise send that directory to the engine.
	ctxPath, err := insideCheckout(dir, contextDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &BuildError{Phase: "build", Reason: fmt.Sprintf("context directory %s not found", contextDir), Err: err}
		}
		if errors.Is(err, errOutside) {
			return &BuildError{Phase: "build", Reason: fmt.Sprintf("context %q is outside the repository", spec.Context)}
		}
		return fmt.Errorf("context %s: %w", contextDir, err)
	}
	root, err := os.OpenRoot(ctxPath)
	if err != nil {
		return fmt.Errorf("context %s: %w", contextDir, err)
	}
	defer root.Close()
	if fi, err := root.Stat(dockerfile); err != nil || !fi.Mode().IsRegular() {
		return &BuildError{Phase: "build", Reason: fmt.Sprintf("%s not found in context %s", dockerfile, contextDir), Err: fs.ErrNotExist}
	}

	labels := make(map[string]string, len(spec.Labels)+7)
	maps.Copy(labels, spec.Labels)
	labels["org.opencontainers.image.revision"] = spec.Revision
	labels["org.opencontainers.image.version"] = spec.Version
	labels["org.opencontainers.image.created"] = now(b.Clock).UTC().Format(time.RFC3339)
	if spec.SourceURL != "" {
		labels["org.opencontainers.image.source"] = spec.SourceURL
	}
	labels["mainline.project"] = spec.Project
	labels["mainline.build"] = spec.Build
	labels["mainline.version"] = spec.Version

	generated, optLabels, err := labelDockerfile(root, dockerfile, labels)
	if err != nil {
		return err
	}
	excludes, err := dockerignore(root, generated)
	if err != nil {
		return err
	}

	tarball, err := archive.TarWithOptions(root.Name(), &archive.TarOptions{
		ExcludePatterns: excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	defer tarball.Close()

	resp, err := b.Client.ImageBuild(ctx, tarball, build.ImageBuildOptions{
		Tags:        []string{spec.Image},
		Dockerfile:  generated,
		Labels:      optLabels,
		Remove:      true,
		ForceRemove: true,
		// The classic builder: BuildKit needs a client-side session the
		// plain API does not give.
		Version: build.BuilderV1,
	})
	if err != nil {
		// The engine refuses a Dockerfile it cannot parse before building.
		if cerrdefs.IsInvalidArgument(err) || cerrdefs.IsNotFound(err) {
			msg := strings.TrimPrefix(err.Error(), "Error response from daemon: ")
			fmt.Fprintln(log, msg)
			return &BuildError{Phase: "build", Reason: oneLine(msg), Err: err}
		}
		return fmt.Errorf("docker build: %w", err)
	}
	defer resp.Body.Close()
	return readBuildStream(resp.Body, log)
}

var errOutside = errors.New("outside the checkout")

// insideCheckout resolves rel under dir, following symbolic links, and
// returns the real path, or an error wrapping errOutside when it leads out
// of dir.
func insideCheckout(dir, rel string) (string, error) {
	base, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(filepath.Join(base, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	r, err := filepath.Rel(base, real)
	if err != nil || (r != "." && !filepath.IsLocal(r)) {
		return "", fmt.Errorf("%s: %w", rel, errOutside)
	}
	return real, nil
}

// labelDockerfile writes a copy of dockerfile with the labels added as one
// LABEL instruction at its end, and returns the copy's name and the labels
// it could not write there (values with line breaks), for the build's
// Labels option.
//
// The classic builder turns each label of the Labels option into a step of
// its own, each committing a container; one LABEL instruction is one step.
// The copy is listed in .dockerignore, so the engine drops it from the
// context before the build, as it does for `docker build -f -`.
func labelDockerfile(root *os.Root, dockerfile string, labels map[string]string) (string, map[string]string, error) {
	data, err := root.ReadFile(dockerfile)
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", dockerfile, err)
	}
	escape := dockerfileEscape(data)
	keys := slices.Sorted(maps.Keys(labels))
	var instr strings.Builder
	rest := map[string]string{}
	for _, k := range keys {
		v := labels[k]
		if strings.ContainsAny(k+v, "\r\n") {
			rest[k] = v
			continue
		}
		if instr.Len() == 0 {
			instr.WriteString("LABEL")
		}
		fmt.Fprintf(&instr, " %s=%s", quoteDockerfile(k, escape), quoteDockerfile(v, escape))
	}

	name := ".mainline.Dockerfile"
	for i := 1; ; i++ {
		if _, err := root.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = fmt.Sprintf(".mainline-%d.Dockerfile", i)
	}
	out := slices.Concat(data, []byte("\n"), []byte(instr.String()), []byte("\n"))
	if err := root.WriteFile(name, out, 0o644); err != nil {
		return "", nil, fmt.Errorf("write %s: %w", name, err)
	}
	return name, rest, nil
}

// dockerfileEscape returns the escape character a Dockerfile declares with
// a "# escape=" parser directive, or the default backslash.
func dockerfileEscape(data []byte) byte {
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		directive, ok := strings.CutPrefix(line, "#")
		if !ok {
			break // directives come before anything else
		}
		key, value, ok := strings.Cut(directive, "=")
		if !ok {
			break
		}
		if strings.EqualFold(strings.TrimSpace(key), "escape") {
			if v := strings.TrimSpace(value); len(v) == 1 {
				return v[0]
			}
		}
	}
	return '\\'
}

// quoteDockerfile double-quotes s for a Dockerfile, escaping the characters
// that mean something inside double quotes there: the quote, the escape
// character and "$" (variable expansion).
func quoteDockerfile(s string, escape byte) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '$' || c == escape {
			b.WriteByte(escape)
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// dockerignore reads the context's .dockerignore, if any, and returns the
// patterns to leave out of the context tar. It adds generated (the labelled
// Dockerfile) to the file, for the engine to drop once it has read it, and
// keeps both in the tar.
func dockerignore(root *os.Root, generated string) ([]string, error) {
	data, err := root.ReadFile(".dockerignore")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		return nil, &BuildError{Phase: "build", Reason: ".dockerignore: " + err.Error(), Err: err}
	}
	if data == nil {
		// No .dockerignore of its own: list ours too, so the engine drops
		// it and the context is what it would have been.
		data = []byte(".dockerignore")
	}
	data = slices.Concat(data, []byte("\n"+generated+"\n"))
	if err := root.WriteFile(".dockerignore", data, 0o644); err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return append(patterns, "!"+generated, "!.dockerignore"), nil
}

// readBuildStream copies the engine's JSON message stream from a build to
// log and turns an error in it into a BuildError naming the step that
// failed.
func readBuildStream(r io.Reader, log io.Writer) error {
	dec := json.NewDecoder(r)
	var step string
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading build output: %w", err)
		}
		if msg := streamError(&m); msg != "" {
			fmt.Fprintln(log, msg)
			return &BuildError{Phase: "build", Step: step, Reason: oneLine(msg)}
		}
		if m.Stream != "" {
			io.WriteString(log, m.Stream)
			for line := range strings.Lines(m.Stream) {
				if s, ok := parseStep(line); ok {
					step = s
				}
			}
		}
		if m.Status != "" {
			fmt.Fprintln(log, strings.TrimSpace(m.ID+" "+m.Status))
		}
	}
}

// parseStep turns the classic builder's "Step 3/5 : COPY app /app" into
// "step 3/5: COPY app /app".
func parseStep(line string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Step ")
	if !ok {
		return "", false
	}
	num, instr, ok := strings.Cut(rest, " : ")
	if !ok {
		return "", false
	}
	const max = 100
	if len(instr) > max {
		instr = instr[:max] + "…"
	}
	return "step " + num + ": " + instr, true
}

// push pushes image and returns its manifest digest from the push stream.
func (b *Builder) push(ctx context.Context, ref string, log io.Writer) (string, error) {
	auth, err := encodedAuth(ctx, b.Auth, ref)
	if err != nil {
		return "", err
	}
	if err := (&Registry{Auth: b.Auth}).CheckPush(ctx, ref); err != nil {
		fmt.Fprintln(log, err)
		host, _ := registryHost(ref)
		return "", &BuildError{Phase: "push", Reason: oneLine(pushProblem(host, err)), Err: err}
	}
	rc, err := b.Client.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("docker push: %w", err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	var digest string
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("reading push output: %w", err)
		}
		if msg := streamError(&m); msg != "" {
			fmt.Fprintln(log, msg)
			return "", &BuildError{Phase: "push", Reason: oneLine(msg)}
		}
		if m.Aux != nil {
			var res types.PushResult
			if err := json.Unmarshal(*m.Aux, &res); err == nil && res.Digest != "" {
				digest = res.Digest
			}
		}
		// Progress bars would fill the log; keep the state changes.
		if m.Status != "" && m.Progress == nil {
			fmt.Fprintln(log, strings.TrimSpace(m.ID+" "+m.Status))
		}
	}
	if digest == "" {
		return "", &BuildError{Phase: "push", Reason: "the engine reported no digest for the pushed image"}
	}
	return digest, nil
}

// streamError returns the error a JSON message carries, or "".
func streamError(m *jsonmessage.JSONMessage) string {
	if m.Error != nil && m.Error.Message != "" {
		return m.Error.Message
	}
	return m.ErrorMessage //lint:ignore SA1019 older engines set only this
}

// lastLine returns the last non-blank line, squeezed and cut to a
// reasonable length.
func lastLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if l := oneLine(lines[i]); l != "" {
			if len(l) > 200 {
				l = l[:200] + "…"
			}
			return l
		}
	}
	return ""
}

// oneLine squeezes a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
