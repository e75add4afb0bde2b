package notify_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/notify"
)

func TestMultiRoutes(t *testing.T) {
	tests := []struct {
		project, kind string
		want          []string // names of the notifiers told
	}{
		{"orders", "deploy_finished", []string{"slack", "hook"}},
		{"orders", "dependency_pr_red", []string{"slack"}},
		{"orders", "deploy_started", nil}, // muted
		{"orders", "build_failed", []string{"hook"}},
		{"billing", "deploy_finished", []string{"github"}}, // the project's own routes
		{"billing", "verify_failed", []string{"github", "hook"}},
	}
	for _, tt := range tests {
		t.Run(tt.project+"/"+tt.kind, func(t *testing.T) {
			slack, hook, github := &recorder{name: "slack"}, &recorder{name: "hook"}, &recorder{name: "github"}
			all := []*recorder{slack, hook, github}
			m := &notify.Multi{
				Routes: map[string][]providers.Notifier{
					"deploy_finished":   {slack, hook},
					"dependency_pr_red": {slack},
					"deploy_started":    {},
				},
				Default: []providers.Notifier{hook},
				Projects: map[string]*notify.Multi{
					"billing": {
						Routes:  map[string][]providers.Notifier{"verify_failed": {github, hook}},
						Default: []providers.Notifier{github},
					},
				},
			}
			n := note(tt.kind, "")
			n.Project = tt.project
			if err := m.Notify(context.Background(), n); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			var got []string
			for _, r := range all {
				switch k := r.kinds(); len(k) {
				case 0:
				case 1:
					got = append(got, r.name)
				default:
					t.Errorf("%s told %d times: %v", r.name, len(k), k)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("told %v, want %v", got, want)
			}
		})
	}
}

// TestMultiErrors: every notifier is told even when one fails, and each
// failure is in the error.
func TestMultiErrors(t *testing.T) {
	errSlack, errHook := errors.New("slack down"), errors.New("hook down")
	slack, hook, ok := &recorder{err: errSlack}, &recorder{err: errHook}, &recorder{}
	m := &notify.Multi{Default: []providers.Notifier{slack, ok, hook}}
	err := m.Notify(context.Background(), note("deploy_finished", ""))
	if !errors.Is(err, errSlack) || !errors.Is(err, errHook) {
		t.Errorf("Notify = %v, want both failures", err)
	}
	if strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("Notify = %q, want one line per failure", err)
	}
	if len(ok.kinds()) != 1 {
		t.Error("the working notifier was not told")
	}
}
