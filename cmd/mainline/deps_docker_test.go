package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// TestDependentsDeployOnDocker: two watched services, S1 and S2 (both the
// sample, requiring example.com/greeting v1.0.0), get their upgrade pull
// requests from one dependents day run against a local module proxy; both
// are checked and merged (automerge), and each merge is tagged, built,
// rolled out and verified on the real Docker cluster, serving v1.1.0's
// greeting. A second run finds nothing to upgrade.
//
// The services import no watched library, so this is one wave: the
// library-first waves are covered on gitlocal in controller/dependents.
func TestDependentsDeployOnDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs containers")
	}
	ctx := context.Background()
	p := startPipeline(t) // S1
	s2Name := "e2e-" + randomHex(4)
	cleanupProject(t, dockertest.Client(t), s2Name)
	s2Repo := newSampleRepo(t, t.TempDir())
	s2, err := p.srv.store.CreateProject(ctx, store.Project{Name: s2Name, SCM: "git", Location: s2Repo.bare})
	if err != nil {
		t.Fatal(err)
	}
	services := []struct {
		project store.Project
		repo    *sampleRepo
	}{{p.project, p.repo}, {s2, s2Repo}}
	for _, s := range services {
		s.repo.commit("first", nil)
	}

	goproxy, err := writeDemoProxy(filepath.Join(t.TempDir(), "goproxy"))
	if err != nil {
		t.Fatal(err)
	}
	st := p.srv.settings
	st.GoProxy = goproxy
	st.GoEnv = []string{"GONOSUMDB=" + greetingModule}
	day, err := newDependentsDay(st, func(string) string { return "" }, p.srv.store, p.srv.scm, nil, p.srv.logger)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := day.Run(ctx)
	if err != nil {
		t.Fatalf("dependents day: %v", err)
	}
	if len(rep.Projects) != 2 {
		t.Fatalf("report has %d projects, want 2: %+v", len(rep.Projects), rep)
	}
	mergeSHA := map[string]string{}
	for _, pr := range rep.Projects {
		if pr.Err != nil || pr.Action != "opened" || !pr.Merged || len(pr.Upgrades) != 1 || pr.Upgrades[0].To != greetingNewest {
			t.Fatalf("%s: action %q, merged %v, upgrades %v, err %v; want opened and merged with %s %s", pr.Project, pr.Action, pr.Merged, pr.Upgrades, pr.Err, greetingModule, greetingNewest)
		}
		mergeSHA[pr.Project] = pr.MergeSHA
	}

	// A merge into a local repository runs no hook: wake the projects as
	// the post-receive hook would. (The controller may have deployed the
	// first commit meanwhile; what matters is the merge's tag.)
	for _, s := range services {
		if _, err := p.srv.controller.WakeRepository(ctx, s.project.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range services {
		var version string
		waitFor(t, 2*time.Minute, s.project.Name+"'s merge tagged", func() bool {
			tags, _ := p.srv.store.Tags(ctx, s.project.ID)
			for _, tag := range tags {
				if tag.SHA == mergeSHA[s.project.Name] {
					version = tag.Name
					return true
				}
			}
			return false
		})
		if got := waitVerified(t, p.srv.store, s.project.ID, version, 2); got != "passed" {
			t.Fatalf("%s: verification of %s: %s, want passed", s.project.Name, version, got)
		}
		if gomod := s.repo.git(s.repo.bare, "show", version+":go.mod"); !strings.Contains(gomod, greetingModule+" "+greetingNewest) {
			t.Errorf("%s: go.mod at %s:\n%s", s.project.Name, version, gomod)
		}
		endpoint, err := p.srv.controller.Providers.Cluster.Endpoint(ctx, s.project.Name, "orders")
		if err != nil {
			t.Fatal(err)
		}
		// v1.1.0 of the module ends the greeting with "!".
		if got := served(t, endpoint); got.Version != version || !strings.HasSuffix(got.Message, "!") {
			t.Errorf("%s serves %+v, want %s with a greeting ending in \"!\"", s.project.Name, got, version)
		}
	}

	rep, err = day.Run(ctx)
	if err != nil {
		t.Fatalf("second dependents day: %v", err)
	}
	for _, pr := range rep.Projects {
		if pr.Err != nil || pr.Action != "" || len(pr.Upgrades) != 0 {
			t.Errorf("second run, %s: action %q, upgrades %v, err %v; want nothing", pr.Project, pr.Action, pr.Upgrades, pr.Err)
		}
	}
}

type greetingResponse struct {
	Message string `json:"message"`
	Version string `json:"version"`
}

func served(t *testing.T, endpoint string) greetingResponse {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(endpoint + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got greetingResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("GET %s/: %v", endpoint, err)
	}
	return got
}
