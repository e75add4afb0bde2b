package notify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/notify"
)

type kept struct{ got []string }

func (k *kept) Notify(_ context.Context, n providers.Notification) error {
	k.got = append(k.got, n.Project+" "+n.Kind)
	return nil
}

func TestFilter(t *testing.T) {
	notes := []providers.Notification{
		{Project: "shop", Kind: "deploy_started"}, {Project: "shop", Kind: "rolled_back"},
		{Project: "blog", Kind: "rolled_back"}, {Project: "blog", Kind: "verify_failed"},
	}
	tests := []struct {
		kinds, projects []string
		want            string
	}{
		{nil, nil, "[shop deploy_started shop rolled_back blog rolled_back blog verify_failed]"},
		{[]string{"rolled_back"}, nil, "[shop rolled_back blog rolled_back]"},
		{nil, []string{"blog"}, "[blog rolled_back blog verify_failed]"},
		{[]string{"rolled_back", "verify_failed"}, []string{"shop"}, "[shop rolled_back]"},
	}
	for _, tt := range tests {
		k := &kept{}
		f := notify.Filter{Next: k, Kinds: tt.kinds, Projects: tt.projects}
		for _, n := range notes {
			if err := f.Notify(context.Background(), n); err != nil {
				t.Fatal(err)
			}
		}
		if got := fmt.Sprint(k.got); got != tt.want {
			t.Errorf("kinds %v projects %v: got %s, want %s", tt.kinds, tt.projects, got, tt.want)
		}
	}
}

func TestParseKinds(t *testing.T) {
	got, err := notify.ParseKinds(" rolled_back, verify_failed ,")
	if err != nil || fmt.Sprint(got) != "[rolled_back verify_failed]" {
		t.Errorf("ParseKinds = %v, %v", got, err)
	}
	if _, err := notify.ParseKinds("rolled_back,rollbacked"); err == nil || err.Error() != `unknown notification kind "rollbacked" (want some of deploy_started, deploy_finished, rolled_back, verify_failed, dependency_pr_red)` {
		t.Errorf("ParseKinds(typo) = %v", err)
	}
}
