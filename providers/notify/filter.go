package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mainline-cd/mainline/providers"
)

// Kinds are the notification kinds Mainline sends.
var Kinds = []string{"deploy_started", "deploy_finished", "rolled_back", "verify_failed", "dependency_pr_red"}

// Filter passes on only the notifications of the listed kinds and
// projects; an empty list allows all. It is how one receiver is limited to,
// say, rollbacks of two projects.
type Filter struct {
	Next     providers.Notifier
	Kinds    []string
	Projects []string
}

var _ providers.Notifier = Filter{}

// Notify sends n to Next if its kind and project are allowed.
func (f Filter) Notify(ctx context.Context, n providers.Notification) error {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, n.Kind) {
		return nil
	}
	if len(f.Projects) > 0 && !slices.Contains(f.Projects, n.Project) {
		return nil
	}
	return f.Next.Notify(ctx, n)
}

// ParseKinds reads a comma-separated list of kinds, refusing names that
// are not in Kinds so that a typo does not silently mute a receiver.
func ParseKinds(list string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("unknown notification kind %q (want some of %s)", k, strings.Join(Kinds, ", "))
		}
		out = append(out, k)
	}
	return out, nil
}
