package storetest

import (
	"testing"

	"github.com/mainline-cd/mainline/controller/store"
)

// testWebhookSecrets: a project's webhook secrets are written by
// CreateProject and UpdateProject, read back by every project query, and
// rotated with the previous one kept.
func testWebhookSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, err := s.CreateProject(ctx, store.Project{Name: "secret", SCM: "github", Location: "octo-org/secret",
		WebhookSecret: "first-secret"})
	ok(t, "CreateProject with a webhook secret", err)
	same(t, "CreateProject WebhookSecrets", p.WebhookSecrets(), []string{"first-secret"})
	if plain := createProject(t, s, "plain"); plain.WebhookSecrets() != nil {
		t.Errorf("CreateProject without secrets: %d secrets, want none", len(plain.WebhookSecrets()))
	}

	read := func(what string, want store.Project) {
		t.Helper()
		got, err := s.Project(ctx, p.ID)
		ok(t, "Project "+what, err)
		same(t, "Project "+what, got, want)
		got, err = s.ProjectByName(ctx, p.Name)
		ok(t, "ProjectByName "+what, err)
		same(t, "ProjectByName "+what, got, want)
		list, err := s.ProjectsByLocation(ctx, "github", "octo-org/secret")
		ok(t, "ProjectsByLocation "+what, err)
		same(t, "ProjectsByLocation "+what, list, []store.Project{want})
	}
	read("after create", p)

	steps := []struct {
		name              string
		current, previous string
		want              []string
	}{
		{"rotation keeping the previous", "second-secret", "first-secret", []string{"second-secret", "first-secret"}},
		{"rotation dropping the previous", "third-secret", "", []string{"third-secret"}},
		{"removal", "", "", nil},
	}
	for _, step := range steps {
		p.WebhookSecret, p.WebhookSecretPrevious = step.current, step.previous
		ok(t, "UpdateProject "+step.name, s.UpdateProject(ctx, p))
		read(step.name, p)
		same(t, "WebhookSecrets "+step.name, p.WebhookSecrets(), step.want)
	}
}
