// Package faults injects failures into provider calls, for tests that
// break things on purpose: a Plan says which calls fail, stall, hang or are
// throttled, and the wrappers here (SCM, Builder, Registry, Cluster,
// Notifier) put any provider behind a Plan. One Plan may drive every
// provider of a test, and the test changes it while the system under test
// runs:
//
//	plan := &faults.Plan{}
//	cluster := faults.Cluster(realCluster, plan)
//	plan.Inject("Cluster.Start", faults.Fault{Kind: faults.Hang, Project: "shop"})
//	… // the controller's Start calls for shop hang until their deadline
//	plan.Clear("Cluster.Start")
//
// Methods are named "Interface.Method" as in intercept.Call ("SCM.CreateTag",
// "Builder.Build", "Cluster.Start"); "Cluster.*" names every method of an
// interface and "*" every call.
//
// The wrappers are those of providers/intercept, so a wrapped provider
// keeps its optional abilities. Only tests import this package.
package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/intercept"
)

// ErrInjected is wrapped by every error a Plan makes up, so a test can
// tell an injected failure from a real one.
var ErrInjected = errors.New("injected fault")

// Kind is what a fault does to a call.
type Kind int

const (
	// Fail returns Fault.Err without making the call.
	Fail Kind = iota + 1
	// Delay waits Fault.Delay (or until the call's context ends), then
	// makes the call.
	Delay
	// Hang never makes the call: it returns only when the call's context
	// ends, with the context's error. Only a caller's deadline saves it.
	Hang
	// Throttle returns a *ThrottledError asking to retry after
	// Fault.Delay, as a rate-limited API would.
	Throttle
	// Lose makes the call, then returns Fault.Err instead of its answer,
	// as when a connection drops after the provider acted: the test of
	// whether a caller's retry of a non-idempotent call is safe.
	Lose
)

func (k Kind) String() string {
	switch k {
	case Fail:
		return "fail"
	case Delay:
		return "delay"
	case Hang:
		return "hang"
	case Throttle:
		return "throttle"
	case Lose:
		return "lose"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Fault is one rule of a Plan.
type Fault struct {
	Kind Kind
	// Err is what a Fail or a Lose returns; nil is an error wrapping
	// ErrInjected.
	Err error
	// Delay is how long a Delay waits, and the retry-after of a Throttle.
	Delay time.Duration
	// Times is how many calls the fault hits before it clears itself;
	// 0 hits every call until Clear.
	Times int
	// Project limits the fault to calls for that project
	// (intercept.Call.Project); "" hits calls for any project.
	Project string
}

// ThrottledError is what a Throttle returns. It wraps
// providers.ErrUnavailable and ErrInjected.
type ThrottledError struct {
	Method     string
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%s: throttled, retry after %s (injected)", e.Method, e.RetryAfter)
}

// Unwrap returns providers.ErrUnavailable and ErrInjected.
func (e *ThrottledError) Unwrap() []error { return []error{providers.ErrUnavailable, ErrInjected} }

// Clock is what a Delay waits on; clockwork's clocks have it.
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

// Plan decides which provider calls fail and how. Its zero value injects
// nothing and passes every call through; it is safe for concurrent use, and
// a test may change it while calls are made.
type Plan struct {
	// Clock times Delays; nil is the wall clock.
	Clock Clock

	mu     sync.Mutex
	faults map[string][]*rule // by method pattern
	calls  map[string]int     // calls seen, by method
	hits   map[string]int     // faults injected, by method
}

type rule struct {
	Fault
	left int // calls left to hit; <0: until cleared
}

var _ intercept.Interceptor = (*Plan)(nil)

// Inject adds f for the calls method names ("Cluster.Start", "Cluster.*",
// "*"). Faults added for one method apply in the order they were added,
// exact names before "Interface.*" before "*"; each call is hit by at most
// one.
func (p *Plan) Inject(method string, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.faults == nil {
		p.faults = map[string][]*rule{}
	}
	left := f.Times
	if left <= 0 {
		left = -1
	}
	p.faults[method] = append(p.faults[method], &rule{Fault: f, left: left})
}

// Clear removes the faults added for method (the same name or pattern
// Inject was given). Calls already hanging or delayed go on until their
// context ends.
func (p *Plan) Clear(method string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.faults, method)
}

// Reset removes every fault and forgets the counts.
func (p *Plan) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults, p.calls, p.hits = nil, nil, nil
}

// Calls is how many calls method (a name or pattern) has seen, hit by a
// fault or not.
func (p *Plan) Calls(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return count(p.calls, method)
}

// Hits is how many calls of method (a name or pattern) a fault hit.
func (p *Plan) Hits(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return count(p.hits, method)
}

func count(m map[string]int, pattern string) int {
	n := 0
	for method, c := range m {
		if matches(pattern, method) {
			n += c
		}
	}
	return n
}

// matches reports whether pattern ("SCM.Tags", "SCM.*", "*") names method.
func matches(pattern, method string) bool {
	if pattern == "*" || pattern == method {
		return true
	}
	iface, ok := strings.CutSuffix(pattern, ".*")
	return ok && strings.HasPrefix(method, iface+".")
}

// take finds the fault that hits c, if any, and counts the call.
func (p *Plan) take(c intercept.Call) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls, p.hits = map[string]int{}, map[string]int{}
	}
	p.calls[c.Method]++
	iface, _, _ := strings.Cut(c.Method, ".")
	for _, pattern := range []string{c.Method, iface + ".*", "*"} {
		for _, r := range p.faults[pattern] {
			if r.left == 0 || (r.Project != "" && r.Project != c.Project) {
				continue
			}
			if r.left > 0 {
				r.left--
			}
			p.hits[c.Method]++
			return r.Fault, true
		}
	}
	return Fault{}, false
}

// Intercept applies the Plan to one call; the wrappers call it.
func (p *Plan) Intercept(ctx context.Context, c intercept.Call, next func(context.Context) error) error {
	f, ok := p.take(c)
	if !ok {
		return next(ctx)
	}
	injected := f.Err
	if injected == nil {
		injected = fmt.Errorf("%s: %w", c.Method, ErrInjected)
	}
	switch f.Kind {
	case Fail:
		return injected
	case Lose:
		if err := next(ctx); err != nil {
			return err
		}
		return injected
	case Delay:
		select {
		case <-p.after(f.Delay):
			return next(ctx)
		case <-ctx.Done():
			return fmt.Errorf("%s: delayed (injected): %w", c.Method, ctx.Err())
		}
	case Hang:
		<-ctx.Done()
		return fmt.Errorf("%s: hung (injected): %w", c.Method, ctx.Err())
	case Throttle:
		return &ThrottledError{Method: c.Method, RetryAfter: f.Delay}
	}
	return fmt.Errorf("%s: unknown fault kind %v", c.Method, f.Kind)
}

func (p *Plan) after(d time.Duration) <-chan time.Time {
	if p.Clock == nil {
		return time.After(d)
	}
	return p.Clock.After(d)
}

// SCM puts s, the repository of project, behind p.
func SCM(s providers.SCM, project string, p *Plan) providers.SCM { return intercept.SCM(s, project, p) }

// Builder puts b behind p.
func Builder(b providers.Builder, p *Plan) providers.Builder { return intercept.Builder(b, p) }

// Registry puts r behind p.
func Registry(r providers.Registry, p *Plan) providers.Registry { return intercept.Registry(r, p) }

// Cluster puts c behind p.
func Cluster(c providers.Cluster, p *Plan) providers.Cluster { return intercept.Cluster(c, p) }

// Notifier puts n behind p.
func Notifier(n providers.Notifier, p *Plan) providers.Notifier { return intercept.Notifier(n, p) }
