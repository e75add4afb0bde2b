// Package intercept wraps each provider interface so that every call goes
// through an Interceptor first: one place to put what must happen around
// any call to an outside system, whatever the provider.
//
// The controller uses it for per-call timeouts and metrics; tests use it,
// through providers/faults, to make chosen calls fail, stall, hang or be
// throttled. A wrapped value keeps the optional abilities (Source,
// StatusSetter, Deployments, PullRequests, Roller) of the value it wraps,
// so type assertions on it answer as they would on the original.
//
// The package imports only providers; anything may import it.
package intercept

import (
	"context"
	"io"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

// Call names one provider call.
type Call struct {
	// Method is the interface and the method, e.g. "Cluster.Start" or
	// "SCM.CreateTag". The optional abilities of an SCM are named as SCM
	// methods ("SCM.Archive", "SCM.MergePullRequest"), and a Roller's
	// Rollout as "Cluster.Rollout".
	Method string
	// Project is the project the call is for when the wrapper knows it
	// (an SCM is bound to one; a build spec, an instance spec or a
	// notification names it), and "" otherwise (Registry.Digest,
	// Cluster.Stop).
	Project string
}

// Interceptor runs around every call of a wrapped provider. It calls next
// to make the call (with ctx or a context derived from it), or returns
// without calling it.
type Interceptor interface {
	Intercept(ctx context.Context, c Call, next func(context.Context) error) error
}

// Func adapts a function to an Interceptor.
type Func func(ctx context.Context, c Call, next func(context.Context) error) error

// Intercept calls f.
func (f Func) Intercept(ctx context.Context, c Call, next func(context.Context) error) error {
	return f(ctx, c, next)
}

// Chain returns an Interceptor that runs each of is around the next: the
// first is the outermost. Nil entries are skipped.
func Chain(is ...Interceptor) Interceptor {
	var list []Interceptor
	for _, i := range is {
		if i != nil {
			list = append(list, i)
		}
	}
	return chain(list)
}

type chain []Interceptor

func (ch chain) Intercept(ctx context.Context, c Call, next func(context.Context) error) error {
	if len(ch) == 0 {
		return next(ctx)
	}
	return ch[0].Intercept(ctx, c, func(ctx context.Context) error {
		return ch[1:].Intercept(ctx, c, next)
	})
}

// do runs one call through i and returns its result.
func do[T any](ctx context.Context, i Interceptor, c Call, fn func(context.Context) (T, error)) (T, error) {
	var out T
	err := i.Intercept(ctx, c, func(ctx context.Context) error {
		var err error
		out, err = fn(ctx)
		return err
	})
	return out, err
}

// SCM wraps s, a repository of project. The result has Source when s has
// it, and StatusSetter, Deployments and PullRequests too when s has all of
// them (both real SCMs, github and gitlocal, have every ability). A nil s
// gives nil.
func SCM(s providers.SCM, project string, i Interceptor) providers.SCM {
	if s == nil {
		return nil
	}
	base := &scm{s: s, project: project, i: i}
	src, isSource := s.(providers.Source)
	st, isStatus := s.(providers.StatusSetter)
	dep, isDeploy := s.(providers.Deployments)
	prs, isPRs := s.(providers.PullRequests)
	switch {
	case isSource && isStatus && isDeploy && isPRs:
		return &fullSCM{sourceSCM: sourceSCM{scm: base, src: src}, st: st, dep: dep, prs: prs}
	case isSource:
		return &sourceSCM{scm: base, src: src}
	}
	return base
}

type scm struct {
	s       providers.SCM
	project string
	i       Interceptor
}

func (w *scm) call(name string) Call { return Call{Method: "SCM." + name, Project: w.project} }

func (w *scm) DefaultBranch(ctx context.Context) (string, error) {
	return do(ctx, w.i, w.call("DefaultBranch"), w.s.DefaultBranch)
}

func (w *scm) HeadSHA(ctx context.Context, branch string) (string, error) {
	return do(ctx, w.i, w.call("HeadSHA"), func(ctx context.Context) (string, error) { return w.s.HeadSHA(ctx, branch) })
}

func (w *scm) Tags(ctx context.Context) ([]providers.Tag, error) {
	return do(ctx, w.i, w.call("Tags"), w.s.Tags)
}

func (w *scm) CreateTag(ctx context.Context, name, sha, message string) error {
	return w.i.Intercept(ctx, w.call("CreateTag"), func(ctx context.Context) error { return w.s.CreateTag(ctx, name, sha, message) })
}

func (w *scm) ReadFile(ctx context.Context, ref, path string) ([]byte, error) {
	return do(ctx, w.i, w.call("ReadFile"), func(ctx context.Context) ([]byte, error) { return w.s.ReadFile(ctx, ref, path) })
}

type sourceSCM struct {
	*scm
	src providers.Source
}

func (w *sourceSCM) Archive(ctx context.Context, ref string, out io.Writer) error {
	return w.i.Intercept(ctx, w.call("Archive"), func(ctx context.Context) error { return w.src.Archive(ctx, ref, out) })
}

type fullSCM struct {
	sourceSCM
	st  providers.StatusSetter
	dep providers.Deployments
	prs providers.PullRequests
}

func (w *fullSCM) SetCommitStatus(ctx context.Context, sha string, s providers.CommitStatus) error {
	return w.i.Intercept(ctx, w.call("SetCommitStatus"), func(ctx context.Context) error { return w.st.SetCommitStatus(ctx, sha, s) })
}

func (w *fullSCM) CreateDeployment(ctx context.Context, ref, environment, description string) (int64, error) {
	return do(ctx, w.i, w.call("CreateDeployment"), func(ctx context.Context) (int64, error) {
		return w.dep.CreateDeployment(ctx, ref, environment, description)
	})
}

func (w *fullSCM) SetDeploymentStatus(ctx context.Context, id int64, state, environmentURL, description string) error {
	return w.i.Intercept(ctx, w.call("SetDeploymentStatus"), func(ctx context.Context) error {
		return w.dep.SetDeploymentStatus(ctx, id, state, environmentURL, description)
	})
}

func (w *fullSCM) CommitFiles(ctx context.Context, branch, base, message string, files []providers.FileChange) (string, error) {
	return do(ctx, w.i, w.call("CommitFiles"), func(ctx context.Context) (string, error) {
		return w.prs.CommitFiles(ctx, branch, base, message, files)
	})
}

func (w *fullSCM) OpenPullRequest(ctx context.Context, pr providers.PullRequest) (providers.PullRequest, error) {
	return do(ctx, w.i, w.call("OpenPullRequest"), func(ctx context.Context) (providers.PullRequest, error) {
		return w.prs.OpenPullRequest(ctx, pr)
	})
}

func (w *fullSCM) UpdatePullRequest(ctx context.Context, number int, title, body string) error {
	return w.i.Intercept(ctx, w.call("UpdatePullRequest"), func(ctx context.Context) error {
		return w.prs.UpdatePullRequest(ctx, number, title, body)
	})
}

func (w *fullSCM) PullRequestsFrom(ctx context.Context, branch string) ([]providers.PullRequest, error) {
	return do(ctx, w.i, w.call("PullRequestsFrom"), func(ctx context.Context) ([]providers.PullRequest, error) {
		return w.prs.PullRequestsFrom(ctx, branch)
	})
}

func (w *fullSCM) MergePullRequest(ctx context.Context, number int, sha, message string) (string, error) {
	return do(ctx, w.i, w.call("MergePullRequest"), func(ctx context.Context) (string, error) {
		return w.prs.MergePullRequest(ctx, number, sha, message)
	})
}

func (w *fullSCM) ClosePullRequest(ctx context.Context, number int, comment string) error {
	return w.i.Intercept(ctx, w.call("ClosePullRequest"), func(ctx context.Context) error {
		return w.prs.ClosePullRequest(ctx, number, comment)
	})
}

func (w *fullSCM) CombinedStatus(ctx context.Context, ref string) (providers.CommitState, error) {
	return do(ctx, w.i, w.call("CombinedStatus"), func(ctx context.Context) (providers.CommitState, error) {
		return w.prs.CombinedStatus(ctx, ref)
	})
}

// Builder wraps b; a nil b gives nil.
func Builder(b providers.Builder, i Interceptor) providers.Builder {
	if b == nil {
		return nil
	}
	return &builder{b: b, i: i}
}

type builder struct {
	b providers.Builder
	i Interceptor
}

func (w *builder) Build(ctx context.Context, src providers.Source, spec providers.BuildSpec, log io.Writer) (string, error) {
	return do(ctx, w.i, Call{Method: "Builder.Build", Project: spec.Project}, func(ctx context.Context) (string, error) {
		return w.b.Build(ctx, src, spec, log)
	})
}

// Registry wraps r; a nil r gives nil.
func Registry(r providers.Registry, i Interceptor) providers.Registry {
	if r == nil {
		return nil
	}
	return &registry{r: r, i: i}
}

type registry struct {
	r providers.Registry
	i Interceptor
}

func (w *registry) Digest(ctx context.Context, image string) (string, error) {
	return do(ctx, w.i, Call{Method: "Registry.Digest"}, func(ctx context.Context) (string, error) { return w.r.Digest(ctx, image) })
}

// Cluster wraps c; the result is a Roller when c is one. A nil c gives nil.
func Cluster(c providers.Cluster, i Interceptor) providers.Cluster {
	if c == nil {
		return nil
	}
	w := &cluster{c: c, i: i}
	if r, ok := c.(providers.Roller); ok {
		return &rollerCluster{cluster: w, r: r}
	}
	return w
}

type cluster struct {
	c providers.Cluster
	i Interceptor
}

func (w *cluster) Instances(ctx context.Context, project, build string) ([]providers.Instance, error) {
	return do(ctx, w.i, Call{Method: "Cluster.Instances", Project: project}, func(ctx context.Context) ([]providers.Instance, error) {
		return w.c.Instances(ctx, project, build)
	})
}

func (w *cluster) Start(ctx context.Context, spec providers.InstanceSpec) (providers.Instance, error) {
	return do(ctx, w.i, Call{Method: "Cluster.Start", Project: spec.Project}, func(ctx context.Context) (providers.Instance, error) {
		return w.c.Start(ctx, spec)
	})
}

func (w *cluster) Stop(ctx context.Context, id string) error {
	return w.i.Intercept(ctx, Call{Method: "Cluster.Stop"}, func(ctx context.Context) error { return w.c.Stop(ctx, id) })
}

func (w *cluster) Endpoint(ctx context.Context, project, build string) (string, error) {
	return do(ctx, w.i, Call{Method: "Cluster.Endpoint", Project: project}, func(ctx context.Context) (string, error) {
		return w.c.Endpoint(ctx, project, build)
	})
}

type rollerCluster struct {
	*cluster
	r providers.Roller
}

func (w *rollerCluster) Rollout(ctx context.Context, spec providers.InstanceSpec, instances, maxSurge, maxUnavailable int) (providers.RolloutStatus, error) {
	return do(ctx, w.i, Call{Method: "Cluster.Rollout", Project: spec.Project}, func(ctx context.Context) (providers.RolloutStatus, error) {
		return w.r.Rollout(ctx, spec, instances, maxSurge, maxUnavailable)
	})
}

// Notifier wraps n; a nil n gives nil.
func Notifier(n providers.Notifier, i Interceptor) providers.Notifier {
	if n == nil {
		return nil
	}
	return &notifier{n: n, i: i}
}

type notifier struct {
	n providers.Notifier
	i Interceptor
}

func (w *notifier) Notify(ctx context.Context, note providers.Notification) error {
	return w.i.Intercept(ctx, Call{Method: "Notifier.Notify", Project: note.Project}, func(ctx context.Context) error {
		return w.n.Notify(ctx, note)
	})
}

// ModuleIndex wraps m; a nil m gives nil.
func ModuleIndex(m providers.ModuleIndex, i Interceptor) providers.ModuleIndex {
	if m == nil {
		return nil
	}
	return &moduleIndex{m: m, i: i}
}

type moduleIndex struct {
	m providers.ModuleIndex
	i Interceptor
}

func (w *moduleIndex) Versions(ctx context.Context, path string) ([]string, error) {
	return do(ctx, w.i, Call{Method: "ModuleIndex.Versions"}, func(ctx context.Context) ([]string, error) { return w.m.Versions(ctx, path) })
}

func (w *moduleIndex) Published(ctx context.Context, path, version string) (time.Time, error) {
	return do(ctx, w.i, Call{Method: "ModuleIndex.Published"}, func(ctx context.Context) (time.Time, error) {
		return w.m.Published(ctx, path, version)
	})
}

var (
	_ providers.SCM          = (*scm)(nil)
	_ providers.Source       = (*sourceSCM)(nil)
	_ providers.StatusSetter = (*fullSCM)(nil)
	_ providers.Deployments  = (*fullSCM)(nil)
	_ providers.PullRequests = (*fullSCM)(nil)
	_ providers.Builder      = (*builder)(nil)
	_ providers.Registry     = (*registry)(nil)
	_ providers.Cluster      = (*cluster)(nil)
	_ providers.Roller       = (*rollerCluster)(nil)
	_ providers.Notifier     = (*notifier)(nil)
	_ providers.ModuleIndex  = (*moduleIndex)(nil)
)
