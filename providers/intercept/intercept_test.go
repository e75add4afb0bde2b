package intercept_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/intercept"
)

// recorder notes every call it sees, as "tag Method project".
type recorder struct {
	tag   string
	calls *[]string
}

func (r recorder) Intercept(ctx context.Context, c intercept.Call, next func(context.Context) error) error {
	*r.calls = append(*r.calls, r.tag+" "+c.Method+" "+c.Project)
	return next(ctx)
}

// fakeSCM answers every base SCM method; the full variant adds every
// optional ability (through nil embedded interfaces, which type
// assertions see but no test calls).
type fakeSCM struct{}

func (fakeSCM) DefaultBranch(context.Context) (string, error)           { return "main", nil }
func (fakeSCM) HeadSHA(context.Context, string) (string, error)         { return "abc", nil }
func (fakeSCM) Tags(context.Context) ([]providers.Tag, error)           { return nil, nil }
func (fakeSCM) CreateTag(context.Context, string, string, string) error { return nil }
func (fakeSCM) ReadFile(context.Context, string, string) ([]byte, error) {
	return []byte("x"), nil
}

type sourceSCM struct{ fakeSCM }

func (sourceSCM) Archive(_ context.Context, _ string, w io.Writer) error {
	_, err := io.WriteString(w, "tar")
	return err
}

type fullSCM struct {
	sourceSCM
	providers.StatusSetter
	providers.Deployments
	providers.PullRequests
}

type rollerCluster struct {
	providers.Cluster
}

func (rollerCluster) Rollout(context.Context, providers.InstanceSpec, int, int, int) (providers.RolloutStatus, error) {
	return providers.RolloutStatus{Done: true}, nil
}

// TestAbilities: a wrapped provider has the optional abilities of the one
// it wraps, and no others.
func TestAbilities(t *testing.T) {
	var none intercept.Func = func(ctx context.Context, _ intercept.Call, next func(context.Context) error) error { return next(ctx) }
	tests := []struct {
		name                       string
		scm                        providers.SCM
		source, status, deploy, pr bool
	}{
		{"base", fakeSCM{}, false, false, false, false},
		{"source", sourceSCM{}, true, false, false, false},
		{"full", fullSCM{}, true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := intercept.SCM(tt.scm, "p", none)
			_, source := w.(providers.Source)
			_, status := w.(providers.StatusSetter)
			_, deploy := w.(providers.Deployments)
			_, pr := w.(providers.PullRequests)
			got := fmt.Sprint(source, status, deploy, pr)
			if want := fmt.Sprint(tt.source, tt.status, tt.deploy, tt.pr); got != want {
				t.Errorf("Source, StatusSetter, Deployments, PullRequests = %s, want %s", got, want)
			}
		})
	}
	if _, ok := intercept.Cluster(rollerCluster{}, none).(providers.Roller); !ok {
		t.Errorf("a wrapped Roller is not a Roller")
	}
	if _, ok := intercept.Cluster(struct{ providers.Cluster }{}, none).(providers.Roller); ok {
		t.Errorf("a wrapped plain Cluster is a Roller")
	}
	if intercept.Cluster(nil, none) != nil || intercept.Builder(nil, none) != nil || intercept.SCM(nil, "", none) != nil ||
		intercept.Registry(nil, none) != nil || intercept.Notifier(nil, none) != nil || intercept.ModuleIndex(nil, none) != nil {
		t.Errorf("wrapping nil gave a non-nil provider")
	}
}

// TestChain: interceptors run outermost first, each call is named with
// its project, and results pass through unchanged.
func TestChain(t *testing.T) {
	var calls []string
	i := intercept.Chain(recorder{"outer", &calls}, nil, recorder{"inner", &calls})
	s := intercept.SCM(sourceSCM{}, "shop", i)
	ctx := context.Background()
	head, err := s.HeadSHA(ctx, "main")
	if err != nil || head != "abc" {
		t.Fatalf("HeadSHA = %q, %v; want abc", head, err)
	}
	var b strings.Builder
	if err := s.(providers.Source).Archive(ctx, "v1", &b); err != nil || b.String() != "tar" {
		t.Fatalf("Archive wrote %q, %v; want tar", b.String(), err)
	}
	want := []string{"outer SCM.HeadSHA shop", "inner SCM.HeadSHA shop", "outer SCM.Archive shop", "inner SCM.Archive shop"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls = %q, want %q", calls, want)
	}
}

// TestShortCircuit: an interceptor that does not call next keeps the call
// from the provider and its error is the call's.
func TestShortCircuit(t *testing.T) {
	refuse := intercept.Func(func(_ context.Context, c intercept.Call, _ func(context.Context) error) error {
		return fmt.Errorf("%s refused", c.Method)
	})
	_, err := intercept.SCM(fakeSCM{}, "p", refuse).ReadFile(context.Background(), "main", "x")
	if err == nil || err.Error() != "SCM.ReadFile refused" {
		t.Errorf("ReadFile error = %v, want SCM.ReadFile refused", err)
	}
}
