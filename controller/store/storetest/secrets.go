package storetest

import (
	"testing"

	"github.com/mainline-cd/mainline/controller/store"
)

// testWebhookSecrets: a project's webhook secrets are written by
// CreateProject and UpdateProject, read back by every project query,
// rotated with the previous one kept, and never more than
// store.MaxWebhookSecrets.
func testWebhookSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, err := s.CreateProject(ctx, store.Project{Name: "secret", SCM: "github", Location: "octo-org/secret",
		WebhookSecrets: []string{"first-secret"}})
	ok(t, "CreateProject with a webhook secret", err)
	same(t, "CreateProject WebhookSecrets", p.WebhookSecrets, []string{"first-secret"})
	plain := createProject(t, s, "plain")
	if plain.WebhookSecrets != nil {
		t.Errorf("CreateProject without secrets: WebhookSecrets = %d secrets, want none", len(plain.WebhookSecrets))
	}

	read := func(what string, want []string) {
		t.Helper()
		got, err := s.Project(ctx, p.ID)
		ok(t, "Project "+what, err)
		same(t, "Project WebhookSecrets "+what, got.WebhookSecrets, want)
		got, err = s.ProjectByName(ctx, p.Name)
		ok(t, "ProjectByName "+what, err)
		same(t, "ProjectByName WebhookSecrets "+what, got.WebhookSecrets, want)
		list, err := s.ProjectsByLocation(ctx, "github", "octo-org/secret")
		ok(t, "ProjectsByLocation "+what, err)
		if len(list) != 1 {
			t.Fatalf("ProjectsByLocation %s: got %d projects, want 1", what, len(list))
		}
		same(t, "ProjectsByLocation WebhookSecrets "+what, list[0].WebhookSecrets, want)
	}
	read("after create", []string{"first-secret"})

	steps := []struct {
		name    string
		secrets []string
		want    []string
	}{
		{"rotation keeping the previous", []string{"second-secret", "first-secret"}, []string{"second-secret", "first-secret"}},
		{"rotation dropping the previous", []string{"third-secret"}, []string{"third-secret"}},
		{"empty strings dropped", []string{"", "fourth-secret", ""}, []string{"fourth-secret"}},
		{"removal", nil, nil},
	}
	for _, step := range steps {
		p.WebhookSecrets = step.secrets
		ok(t, "UpdateProject "+step.name, s.UpdateProject(ctx, p))
		read(step.name, step.want)
	}

	p.WebhookSecrets = []string{"a", "b", "c"}
	if err := s.UpdateProject(ctx, p); err == nil {
		t.Errorf("UpdateProject with 3 webhook secrets: got no error, want one")
	}
	read("after a refused update", nil)
	_, err = s.CreateProject(ctx, store.Project{Name: "too-many", SCM: "git", Location: "/x", WebhookSecrets: []string{"a", "b", "c"}})
	if err == nil {
		t.Errorf("CreateProject with 3 webhook secrets: got no error, want one")
	}
}
