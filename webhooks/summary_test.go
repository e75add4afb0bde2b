package webhooks_test

import (
	"errors"
	"testing"

	"github.com/mainline-cd/mainline/webhooks"
)

const (
	helloWorld = "Codertocat/Hello-World"
	tagSHA     = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	prSHA      = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	zeroSHA    = "0000000000000000000000000000000000000000"
)

// fixtureWants is what every fixture summarizes to, and whether it wakes.
// Note the pushes: two delete the tag simple-tag, one creates the branch
// master; only the branch push wakes.
var fixtureWants = map[string]struct {
	sum   webhooks.Summary
	wakes bool
}{
	"check_run/completed.payload.json":      {webhooks.Summary{Event: "check_run", Repo: helloWorld, Branch: "changes", SHA: prSHA}, true},
	"check_suite/completed.payload.json":    {webhooks.Summary{Event: "check_suite", Repo: helloWorld, Branch: "changes", SHA: prSHA}, true},
	"create/payload.json":                   {webhooks.Summary{Event: "create", Repo: helloWorld, Ref: "refs/tags/simple-tag", Tag: "simple-tag"}, false},
	"delete/payload.json":                   {webhooks.Summary{Event: "delete", Repo: helloWorld, Ref: "refs/tags/simple-tag", Tag: "simple-tag", Deleted: true}, false},
	"ping/payload.json":                     {webhooks.Summary{Event: "ping", Repo: "Octocoders/Hello-World"}, false},
	"pull_request/closed.payload.json":      {webhooks.Summary{Event: "pull_request", Repo: helloWorld, Branch: "master", SHA: prSHA}, true},
	"pull_request/opened.payload.json":      {webhooks.Summary{Event: "pull_request", Repo: helloWorld, Branch: "master", SHA: prSHA}, true},
	"pull_request/synchronize.payload.json": {webhooks.Summary{Event: "pull_request", Repo: helloWorld, Branch: "master", SHA: prSHA}, true},
	"push/1.payload.json":                   {webhooks.Summary{Event: "push", Repo: helloWorld, Ref: "refs/tags/simple-tag", Tag: "simple-tag", SHA: zeroSHA, Deleted: true}, false},
	"push/payload.json":                     {webhooks.Summary{Event: "push", Repo: helloWorld, Ref: "refs/tags/simple-tag", Tag: "simple-tag", SHA: zeroSHA, Deleted: true}, false},
	"push/with-new-branch.payload.json":     {webhooks.Summary{Event: "push", Repo: helloWorld, Ref: "refs/heads/master", Branch: "master", SHA: tagSHA}, true},
	"status/payload.json":                   {webhooks.Summary{Event: "status", Repo: helloWorld, SHA: tagSHA}, true},
	"workflow_run/completed.payload.json":   {webhooks.Summary{Event: "workflow_run", Repo: "octo-org/octo-repo"}, false},
}

func TestSummarizeFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			want, ok := fixtureWants[f.Name]
			if !ok {
				t.Fatalf("fixture %s has no expectation in fixtureWants", f.Name)
			}
			got, err := webhooks.Summarize(f.Event, f.Payload)
			if err != nil {
				t.Fatalf("Summarize: %v", err)
			}
			if got != want.sum {
				t.Errorf("Summarize =\n %+v\nwant\n %+v", got, want.sum)
			}
			if got.Wakes() != want.wakes {
				t.Errorf("Wakes() = %v, want %v", got.Wakes(), want.wakes)
			}
		})
	}
}

func TestSummarizeRefs(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		payload string
		want    webhooks.Summary
		wakes   bool
	}{
		{"branch push", "push", `{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"o/r"}}`,
			webhooks.Summary{Event: "push", Repo: "o/r", Ref: "refs/heads/main", Branch: "main", SHA: "abc"}, true},
		{"branch with slash", "push", `{"ref":"refs/heads/feature/x","after":"abc","repository":{"full_name":"o/r"}}`,
			webhooks.Summary{Event: "push", Repo: "o/r", Ref: "refs/heads/feature/x", Branch: "feature/x", SHA: "abc"}, true},
		{"tag push", "push", `{"ref":"refs/tags/v1.0.0","after":"abc","repository":{"full_name":"o/r"}}`,
			webhooks.Summary{Event: "push", Repo: "o/r", Ref: "refs/tags/v1.0.0", Tag: "v1.0.0", SHA: "abc"}, false},
		{"branch deletion", "push", `{"ref":"refs/heads/old","after":"` + zeroSHA + `","deleted":true,"repository":{"full_name":"o/r"}}`,
			webhooks.Summary{Event: "push", Repo: "o/r", Ref: "refs/heads/old", Branch: "old", SHA: zeroSHA, Deleted: true}, false},
		{"zero after without deleted", "push", `{"ref":"refs/heads/old","after":"` + zeroSHA + `","repository":{"full_name":"o/r"}}`,
			webhooks.Summary{Event: "push", Repo: "o/r", Ref: "refs/heads/old", Branch: "old", SHA: zeroSHA, Deleted: true}, false},
		{"other ref", "push", `{"ref":"refs/notes/commits","after":"abc","repository":{"full_name":"o/r"}}`,
			webhooks.Summary{Event: "push", Repo: "o/r", Ref: "refs/notes/commits", SHA: "abc"}, false},
		{"create branch", "create", `{"ref":"dev","ref_type":"branch","repository":{"full_name":"o/r"}}`,
			webhooks.Summary{Event: "create", Repo: "o/r", Ref: "refs/heads/dev", Branch: "dev"}, false},
		{"create repository", "create", `{"ref":null,"ref_type":"repository","repository":{"full_name":"o/r"}}`,
			webhooks.Summary{Event: "create", Repo: "o/r"}, false},
		{"ping without repository", "ping", `{"zen":"Keep it simple.","hook_id":1}`,
			webhooks.Summary{Event: "ping"}, false},
		{"unknown event", "sponsorship", `{"action":"created"}`,
			webhooks.Summary{Event: "sponsorship"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhooks.Summarize(tt.event, []byte(tt.payload))
			if err != nil {
				t.Fatalf("Summarize: %v", err)
			}
			if got != tt.want {
				t.Errorf("Summarize =\n %+v\nwant\n %+v", got, tt.want)
			}
			if got.Wakes() != tt.wakes {
				t.Errorf("Wakes() = %v, want %v", got.Wakes(), tt.wakes)
			}
		})
	}
}

func TestSummarizeErrors(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		payload string
		want    error
	}{
		{"not JSON", "push", `{"ref":`, webhooks.ErrMalformed},
		{"null", "push", `null`, webhooks.ErrMalformed},
		{"array", "push", `[]`, webhooks.ErrMalformed},
		{"empty", "push", ``, webhooks.ErrMalformed},
		{"wrong type", "push", `{"ref":5,"after":"abc","repository":{"full_name":"o/r"}}`, webhooks.ErrMalformed},
		{"unknown event not JSON", "sponsorship", `nope`, webhooks.ErrMalformed},
		{"unknown event array", "sponsorship", `[1]`, webhooks.ErrMalformed},
		{"NUL in repository", "push", `{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"o/\u0000r"}}`, webhooks.ErrMalformed},
		{"newline in repository", "sponsorship", `{"repository":{"full_name":"o/r\nfake log line"}}`, webhooks.ErrMalformed},
		{"push without ref", "push", `{"after":"abc","repository":{"full_name":"o/r"}}`, webhooks.ErrMissingField},
		{"push without after", "push", `{"ref":"refs/heads/main","repository":{"full_name":"o/r"}}`, webhooks.ErrMissingField},
		{"push without repository", "push", `{"ref":"refs/heads/main","after":"abc"}`, webhooks.ErrMissingField},
		{"push with empty full_name", "push", `{"ref":"refs/heads/main","after":"abc","repository":{"full_name":""}}`, webhooks.ErrMissingField},
		{"pull_request without pull_request", "pull_request", `{"action":"opened","repository":{"full_name":"o/r"}}`, webhooks.ErrMissingField},
		{"pull_request without action", "pull_request", `{"pull_request":{},"repository":{"full_name":"o/r"}}`, webhooks.ErrMissingField},
		{"check_suite without head_sha", "check_suite", `{"check_suite":{},"repository":{"full_name":"o/r"}}`, webhooks.ErrMissingField},
		{"check_run without repository", "check_run", `{"check_run":{"head_sha":"abc"}}`, webhooks.ErrMissingField},
		{"status without sha", "status", `{"state":"success","repository":{"full_name":"o/r"}}`, webhooks.ErrMissingField},
		{"create without ref_type", "create", `{"ref":"x","repository":{"full_name":"o/r"}}`, webhooks.ErrMissingField},
		{"delete without ref", "delete", `{"ref_type":"branch","repository":{"full_name":"o/r"}}`, webhooks.ErrMissingField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhooks.Summarize(tt.event, []byte(tt.payload))
			if !errors.Is(err, tt.want) {
				t.Errorf("Summarize(%s, %q) error = %v, want %v", tt.event, tt.payload, err, tt.want)
			}
		})
	}
}
