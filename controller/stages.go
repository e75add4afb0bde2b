package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy"
	"github.com/mainline-cd/mainline/deploy/config"
	"github.com/mainline-cd/mainline/providers"
)

// configFile is the per-repository configuration, at the repository root.
const configFile = ".mainline.yaml"

// run is one pass of the stages over one project. Stages fill it in as
// they go: sync sets head and cfg, tag sets version.
type run struct {
	c       *Controller
	project store.Project
	log     *slog.Logger

	scm     providers.SCM
	branch  string
	head    string         // commit at the tip of branch
	cfg     *config.Config // .mainline.yaml at head
	version string         // version tag on head
}

type stage struct {
	name string
	fn   func(context.Context) (Outcome, error)
}

// stages is the pipeline, in order. Each stage is safe to run again at any
// time; the run stops at the first that is not ready.
func (r *run) stages() []stage {
	return []stage{
		{"sync", r.sync},
		{"tag", r.tag},
		{"build", r.build},
		{"desire", r.desire},
		{"scale", r.scale},
		{"verify", r.verify},
	}
}

// sync records the head of the project's branch and reads .mainline.yaml
// there. Ready means r.head and r.cfg are set; an invalid config stalls
// the project until a commit changes it.
func (r *run) sync(ctx context.Context) (Outcome, error) {
	c, p := r.c, r.project
	scm, err := c.Providers.SCM(ctx, p)
	if err != nil {
		return Outcome{}, fmt.Errorf("open repository %s: %w", p.Location, err)
	}
	r.scm = scm
	r.branch = p.Branch
	if r.branch == "" {
		if r.branch, err = scm.DefaultBranch(ctx); err != nil {
			return Outcome{}, fmt.Errorf("default branch: %w", err)
		}
	}
	r.head, err = scm.HeadSHA(ctx, r.branch)
	if errors.Is(err, providers.ErrNotFound) {
		return waiting(0, "branch %s has no commits yet", r.branch), nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("head of %s: %w", r.branch, err)
	}
	data, err := scm.ReadFile(ctx, r.head, configFile)
	if errors.Is(err, providers.ErrNotFound) {
		return Outcome{}, stalled("no %s at %s (%s)", configFile, short(r.head), r.branch)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("read %s at %s: %w", configFile, short(r.head), err)
	}
	if r.cfg, err = config.Parse(configFile, data); err != nil {
		return Outcome{}, stalled("invalid %s at %s: %v", configFile, short(r.head), err)
	}
	// A branch named in .mainline.yaml wins over the default branch, unless
	// the project was registered for a branch.
	if p.Branch == "" && r.cfg.Branch != "" && r.cfg.Branch != r.branch {
		r.branch = r.cfg.Branch
		if r.head, err = scm.HeadSHA(ctx, r.branch); err != nil {
			return Outcome{}, fmt.Errorf("head of %s: %w", r.branch, err)
		}
	}
	prev, err := c.Store.Head(ctx, p.ID, r.branch)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Outcome{}, fmt.Errorf("load head: %w", err)
	}
	if prev.SHA == r.head {
		return ready(), nil
	}
	if err := c.Store.SetHead(ctx, store.Head{ProjectID: p.ID, Branch: r.branch, SHA: r.head, SeenAt: c.Clock.Now().UTC()}); err != nil {
		return Outcome{}, fmt.Errorf("record head: %w", err)
	}
	return ready(), c.event(ctx, p, "head", "%s is at %s", r.branch, short(r.head))
}

// tag makes sure the head commit has a version tag: the one it has, or the
// next patch version above the highest tag. Ready means r.version is set.
// It never puts two version tags on one commit and never moves a tag: when
// the next name is taken (another writer, a retry after a crash) it is
// reused if it points at the head, and otherwise the number after it is
// tried.
func (r *run) tag(ctx context.Context) (Outcome, error) {
	for attempt := 0; attempt < 20; attempt++ {
		tags, err := r.scm.Tags(ctx)
		if err != nil {
			return Outcome{}, fmt.Errorf("list tags: %w", err)
		}
		var names, onHead []string
		for _, t := range tags {
			names = append(names, t.Name)
			if t.SHA == r.head {
				onHead = append(onHead, t.Name)
			}
		}
		if v, ok := deploy.Highest(onHead); ok {
			r.version = v.String()
			return ready(), r.recordTag(ctx, r.version, false)
		}
		next := deploy.FirstVersion("")
		if hi, ok := deploy.Highest(names); ok {
			next = hi.NextPatch()
		}
		// Skip names that are already taken by other commits.
		for taken(tags, next.String()) {
			next = next.NextPatch()
		}
		err = r.scm.CreateTag(ctx, next.String(), r.head, "Release "+next.String()+" (tagged by Mainline)")
		if errors.Is(err, providers.ErrExists) {
			continue // someone else was faster: look again
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("tag %s on %s: %w", next, short(r.head), err)
		}
		r.version = next.String()
		return ready(), r.recordTag(ctx, r.version, true)
	}
	return Outcome{}, fmt.Errorf("tag %s of %s: gave up after repeated name conflicts", short(r.head), r.project.Name)
}

func taken(tags []providers.Tag, name string) bool {
	for _, t := range tags {
		if t.Name == name {
			return true
		}
	}
	return false
}

// recordTag stores a tag the repository has; created says whether this run
// made it, for the event.
func (r *run) recordTag(ctx context.Context, name string, created bool) error {
	c, p := r.c, r.project
	err := c.Store.AddTag(ctx, store.Tag{ProjectID: p.ID, Name: name, SHA: r.head, CreatedAt: c.Clock.Now().UTC()})
	if errors.Is(err, store.ErrConflict) {
		return nil // already known
	}
	if err != nil {
		return fmt.Errorf("record tag %s: %w", name, err)
	}
	verb := "found tag"
	if created {
		verb = "tagged"
	}
	return c.event(ctx, p, "tagged", "%s %s %s", verb, short(r.head), name)
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// buildLogLines is how much of a build log is kept.
const buildLogLines = 2000

// build makes sure every builds: entry has an image for r.version. Ready
// means each has a succeeded build with a digest. A failed build is not
// retried in a loop: the project waits for a new commit or an explicit
// retry (which deletes the failed record's status).
func (r *run) build(ctx context.Context) (Outcome, error) {
	c, p := r.c, r.project
	for _, b := range r.cfg.Builds {
		rec, err := c.Store.Build(ctx, p.ID, b.Name, r.version)
		switch {
		case err == nil && rec.Status == store.BuildSucceeded:
			continue
		case err == nil && rec.Status == store.BuildFailed:
			return waiting(0, "build %s@%s failed: %s (push a fix, or retry the build)", b.Name, r.version, rec.Error), nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return Outcome{}, fmt.Errorf("load build %s@%s: %w", b.Name, r.version, err)
		}
		if b.Image != "" {
			out, err := r.awaitExternal(ctx, b, rec)
			if err != nil || out.Result != Ready {
				return out, err
			}
			continue
		}
		if err := r.buildOne(ctx, b); err != nil {
			return Outcome{}, err
		}
	}
	return ready(), nil
}

// buildOne builds and pushes one image, recording the build before and
// after so a crash mid-build rebuilds only this image.
func (r *run) buildOne(ctx context.Context, b config.Build) error {
	c, p := r.c, r.project
	image := c.imageName(p.Name, b.Name, r.version)
	now := c.Clock.Now().UTC()
	rec := store.Build{ProjectID: p.ID, Name: b.Name, Version: r.version, Status: store.BuildRunning, Image: image, StartedAt: now}

	// Idempotent: an image the registry already has is recorded, not rebuilt.
	if c.Providers.Registry != nil {
		digest, err := c.Providers.Registry.Digest(ctx, image)
		if err == nil {
			rec.Status, rec.Digest, rec.FinishedAt = store.BuildSucceeded, digest, now
			if err := c.Store.PutBuild(ctx, rec); err != nil {
				return fmt.Errorf("record build %s@%s: %w", b.Name, r.version, err)
			}
			return c.event(ctx, p, "build_succeeded", "%s@%s already in the registry (%s)", b.Name, r.version, digest)
		}
		if !errors.Is(err, providers.ErrNotFound) {
			r.log.Warn("registry lookup failed; building", "image", image, "err", err)
		}
	}
	if c.Providers.Builder == nil {
		return stalled("no builder configured for %s@%s", b.Name, r.version)
	}
	src, ok := r.scm.(providers.Source)
	if !ok {
		return stalled("repository of %s cannot hand out source trees", p.Name)
	}
	if err := c.Store.PutBuild(ctx, rec); err != nil {
		return fmt.Errorf("record build %s@%s: %w", b.Name, r.version, err)
	}
	if err := c.event(ctx, p, "build_started", "building %s@%s", b.Name, r.version); err != nil {
		return err
	}
	logw := newTailWriter(buildLogLines)
	spec := providers.BuildSpec{
		Project:    p.Name,
		Build:      b.Name,
		Version:    r.version,
		Revision:   r.head,
		SourceURL:  p.Location,
		Image:      image,
		Dockerfile: b.Dockerfile,
		Context:    b.Context,
		Command:    b.Build.Command,
		Timeout:    time.Duration(b.Build.Timeout),
	}
	bctx, cancel := context.WithTimeout(ctx, spec.Timeout+c.Timeouts.Build)
	stopFlush := r.flushBuildLog(ctx, rec, logw)
	digest, err := c.Providers.Builder.Build(bctx, src, spec, logw)
	stopFlush()
	hung := bctx.Err() != nil
	cancel()
	rec.FinishedAt = c.Clock.Now().UTC()
	rec.Log = logw.String()
	if ctx.Err() != nil {
		// Shutting down: leave the record running; the next start rebuilds.
		return fmt.Errorf("build %s@%s: %w", b.Name, r.version, ctx.Err())
	}
	if err != nil && (hung || errors.Is(err, providers.ErrUnavailable)) {
		// The builder, not the source, failed (down, throttled, or hung
		// past its own timeout): leave the record running and retry with
		// back-off instead of failing the version.
		return fmt.Errorf("build %s@%s: builder unavailable (%w): %w", b.Name, r.version, providers.ErrUnavailable, err)
	}
	if err != nil {
		rec.Status, rec.Error = store.BuildFailed, oneLine(err.Error())
		if perr := c.Store.PutBuild(ctx, rec); perr != nil {
			return fmt.Errorf("record build %s@%s: %w", b.Name, r.version, perr)
		}
		r.setCommitStatus(ctx, "mainline/build/"+b.Name, providers.StateFailure, "build failed: "+rec.Error)
		return c.event(ctx, p, "build_failed", "build %s@%s failed: %s\n%s", b.Name, r.version, rec.Error, logw.Tail(10))
	}
	rec.Status, rec.Digest = store.BuildSucceeded, digest
	if err := c.Store.PutBuild(ctx, rec); err != nil {
		return fmt.Errorf("record build %s@%s: %w", b.Name, r.version, err)
	}
	r.setCommitStatus(ctx, "mainline/build/"+b.Name, providers.StateSuccess, "image "+digest)
	return c.event(ctx, p, "build_succeeded", "built %s@%s (%s)", b.Name, r.version, digest)
}

// buildLogFlush is how often the log of a running build is written to
// the store, where the dashboard shows it while the build runs.
const buildLogFlush = time.Second

// flushBuildLog writes the running build's log to the store every
// buildLogFlush while it changes, until the returned func is called (which
// waits for the last write, so it cannot overwrite the final record).
func (r *run) flushBuildLog(ctx context.Context, rec store.Build, logw *tailWriter) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(buildLogFlush)
		defer t.Stop()
		seen := 0
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			text, n, changed := logw.Changed(seen)
			if !changed {
				continue
			}
			seen, rec.Log = n, text
			if err := r.c.Store.PutBuild(ctx, rec); err != nil {
				r.log.Warn("store the running build's log", "build", rec.Name, "err", err)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// externalBuildTimeout is how long an external build (`image:`) may take to
// appear in the registry before the build counts as failed.
const externalBuildTimeout = 30 * time.Minute

// awaitExternal waits for an image another system builds to appear in the
// registry, then records its digest.
func (r *run) awaitExternal(ctx context.Context, b config.Build, rec store.Build) (Outcome, error) {
	c, p := r.c, r.project
	now := c.Clock.Now().UTC()
	image := b.Image + ":" + r.version
	if rec.Version == "" {
		rec = store.Build{ProjectID: p.ID, Name: b.Name, Version: r.version, Status: store.BuildPending, Image: image, StartedAt: now}
		if err := c.Store.PutBuild(ctx, rec); err != nil {
			return Outcome{}, fmt.Errorf("record build %s@%s: %w", b.Name, r.version, err)
		}
	}
	if c.Providers.Registry == nil {
		return Outcome{}, stalled("no registry configured to await %s", image)
	}
	digest, err := c.Providers.Registry.Digest(ctx, image)
	switch {
	case err == nil:
		rec.Status, rec.Digest, rec.FinishedAt = store.BuildSucceeded, digest, now
		if err := c.Store.PutBuild(ctx, rec); err != nil {
			return Outcome{}, fmt.Errorf("record build %s@%s: %w", b.Name, r.version, err)
		}
		return ready(), c.event(ctx, p, "build_succeeded", "external image %s appeared (%s)", image, digest)
	case !errors.Is(err, providers.ErrNotFound):
		return Outcome{}, fmt.Errorf("look up %s: %w", image, err)
	case now.Sub(rec.StartedAt) > externalBuildTimeout:
		rec.Status, rec.FinishedAt = store.BuildFailed, now
		rec.Error = fmt.Sprintf("%s did not appear in the registry within %s", image, externalBuildTimeout)
		if err := c.Store.PutBuild(ctx, rec); err != nil {
			return Outcome{}, fmt.Errorf("record build %s@%s: %w", b.Name, r.version, err)
		}
		return Outcome{}, c.event(ctx, p, "build_failed", "build %s@%s failed: %s", b.Name, r.version, rec.Error)
	}
	return waiting(10*time.Second, "waiting for %s to be pushed by its external build", image), nil
}

// setCommitStatus reports on the commit when the SCM can; failures are
// logged, never fatal: a status is news, not state.
func (r *run) setCommitStatus(ctx context.Context, name string, state providers.CommitState, desc string) {
	s, ok := r.scm.(providers.StatusSetter)
	if !ok {
		return
	}
	err := s.SetCommitStatus(ctx, r.head, providers.CommitStatus{State: state, Context: name, Description: desc, TargetURL: r.c.DashboardURL})
	if err != nil {
		r.log.Warn("set commit status", "context", name, "err", err)
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
