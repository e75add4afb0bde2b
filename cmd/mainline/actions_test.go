package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

// runCLI runs mainline with args against the data directory dir and
// returns stdout and the error.
func runCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	env := map[string]string{"MAINLINE_DATA_DIR": dir}
	root := newRootCmd(func(k string) string { return env[k] })
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestActions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := runCLI(t, dir, "project", "add", "--git", t.TempDir(), "--name", "shop"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite://"+dir+"/mainline.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.ProjectByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i, v := range []string{"0.0.1", "0.0.2", "0.0.3"} {
		if err := st.AddTag(ctx, store.Tag{ProjectID: p.ID, Name: v, SHA: strings.Repeat(string(rune('a'+i)), 40), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []store.VerifyRun{
		{ProjectID: p.ID, Version: "0.0.1", Trigger: "rollout", Status: "passed", StartedAt: now, FinishedAt: now},
		{ProjectID: p.ID, Version: "0.0.2", Trigger: "rollout", Status: "passed", StartedAt: now, FinishedAt: now},
		{ProjectID: p.ID, Version: "0.0.3", Trigger: "rollout", Status: "passed", StartedAt: now, FinishedAt: now},
	} {
		if _, err := st.AddVerifyRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Reject(ctx, store.Rejection{ProjectID: p.ID, Version: "0.0.2", Reason: "bad", At: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: "api", Version: "0.0.3", Instances: 2, SetAt: now, SetBy: "tag 0.0.3"}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0.0.1", "0.0.2"} {
		if err := st.PutBuild(ctx, store.Build{ProjectID: p.ID, Name: "api", Version: v, Status: store.BuildSucceeded, Digest: "sha256:" + v, StartedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutBuild(ctx, store.Build{ProjectID: p.ID, Name: "api", Version: "0.0.3", Status: store.BuildFailed, Error: "boom", StartedAt: now}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args    []string
		wantOut string // substring of stdout
		wantErr string // substring of the error; "" for none
		check   func(p store.Project) bool
	}{
		{args: []string{"deploy", "shop", "0.0.1"}, wantOut: "shop pinned to 0.0.1", check: func(p store.Project) bool { return p.Pinned == "0.0.1" }},
		{args: []string{"deploy", "shop", "9.9.9"}, wantErr: "shop has no version 9.9.9", check: func(p store.Project) bool { return p.Pinned == "0.0.1" }},
		{args: []string{"deploy", "shop", "latest"}, wantErr: `version "latest"`},
		{args: []string{"deploy", "nope", "0.0.1"}, wantErr: `no project named "nope"`},
		// 0.0.2 is rejected, so rolling back from 0.0.3 goes to 0.0.1.
		{args: []string{"rollback", "shop"}, wantOut: "rolled back from 0.0.3: pinned to 0.0.1", check: func(p store.Project) bool { return p.Pinned == "0.0.1" }},
		{args: []string{"pause", "shop"}, wantOut: "shop paused", check: func(p store.Project) bool { return p.Paused }},
		{args: []string{"resume", "shop"}, wantOut: "shop resumed", check: func(p store.Project) bool { return !p.Paused && p.Pinned == "" }},
		{args: []string{"build", "--retry", "shop", "0.0.3"}, wantOut: "1 failed build(s) will be retried"},
		{args: []string{"build", "--retry", "shop", "0.0.3"}, wantErr: "no failed build to retry"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := runCLI(t, dir, tt.args...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q, want it to contain %q", out, tt.wantOut)
			}
			if tt.check != nil {
				p, err := st.ProjectByName(ctx, "shop")
				if err != nil {
					t.Fatal(err)
				}
				if !tt.check(p) {
					t.Errorf("project after %v: %+v", tt.args, p)
				}
			}
		})
	}
	b, err := st.Build(ctx, p.ID, "api", "0.0.3")
	if err != nil || b.Status != store.BuildPending {
		t.Errorf("build after retry = %+v, %v; want pending", b, err)
	}
	evs, err := st.Events(ctx, store.EventQuery{ProjectID: p.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 || !strings.Contains(evs[0].Message, "(by user:") {
		t.Errorf("events = %+v, want 5 (one per successful action) naming who acted", evs)
	}
}
