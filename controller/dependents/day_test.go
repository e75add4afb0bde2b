package dependents_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/controller/dependents/proxytest"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers/goproxy"
)

func libFiles(version string) map[string]string {
	return map[string]string{
		"go.mod":         "module example.com/lib\n\ngo 1.22\n",
		"lib.go":         fmt.Sprintf("package lib\n\n// Version is the library's version.\nfunc Version() string { return %q }\n", version),
		".mainline.yaml": "dependencies: { automerge: true }\n",
	}
}

func thirdparty(version string) proxytest.Module {
	return proxytest.Module{Path: "example.com/thirdparty", Version: version, Files: map[string]string{
		"thirdparty.go": fmt.Sprintf("package thirdparty\n\nfunc Hello() string { return \"hello from %s\" }\n", version),
	}}
}

func serviceFiles(name string) map[string]string {
	return map[string]string{
		"go.mod": "module example.com/" + name + "\n\ngo 1.22\n\nrequire (\n\texample.com/lib v1.0.0\n\texample.com/thirdparty v1.0.0\n)\n",
		"main.go": `package main

import (
	"fmt"

	"example.com/lib"
	"example.com/thirdparty"
)

func main() { fmt.Println(lib.Version(), thirdparty.Hello()) }
`,
		"main_test.go": "package main\n\nimport \"testing\"\n\nfunc TestMain(t *testing.T) { main() }\n",
		"Dockerfile":   "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
		".mainline.yaml": `builds:
  - name: app
    dockerfile: Dockerfile
    build: { command: "CGO_ENABLED=0 go build -o app ." }
dependencies: { automerge: true }
`,
	}
}

// TestWavesOnGitlocal is the dependents day story on local repositories:
// library L and services S1 and S2 that import L and an outdated
// third-party module. L gets a new tag; one run opens a pull request in S1
// and S2 upgrading both, runs their checks, merges them (waking the
// pipeline through the ref-update callback), and a second run opens
// nothing.
func TestWavesOnGitlocal(t *testing.T) {
	ctx := context.Background()
	px := proxytest.New(t,
		proxytest.Module{Path: "example.com/lib", Version: "v1.0.0", Files: libFiles("v1.0.0")},
		thirdparty("v1.0.0"), thirdparty("v1.0.1"), thirdparty("v1.1.0"),
		proxytest.Module{Path: "example.com/thirdparty/v2", Version: "v2.0.0"},
	)
	lib := newLocalRepo(t, px, libFiles("v1.0.0"), false)
	lib.tag(t, "v1.0.0")
	s1 := newLocalRepo(t, px, serviceFiles("s1"), true)
	s2 := newLocalRepo(t, px, serviceFiles("s2"), true)

	// L gets a new release, which reaches the module proxy.
	lib.commit(t, "lib: new version", libFiles("v1.1.0"))
	lib.tag(t, "v1.1.0")
	px.Add(proxytest.Module{Path: "example.com/lib", Version: "v1.1.0", Files: libFiles("v1.1.0")})

	st := storetest.SQLite(t)
	ids := map[string]int64{}
	for name, r := range map[string]*localRepo{"s1": s1, "lib": lib, "s2": s2} {
		p, err := st.CreateProject(ctx, store.Project{Name: name, SCM: "git", Location: r.bare})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = p.ID
	}
	index, err := goproxy.New(goproxy.Config{Proxy: px.URL})
	if err != nil {
		t.Fatal(err)
	}
	var refs refUpdates
	day := &dependents.Day{Store: st, SCM: refs.opener(t), Index: index, Env: px.Env()}

	rep, err := day.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waves := map[string]int{}
	for _, pr := range rep.Projects {
		waves[pr.Project] = pr.Wave
		if pr.Err != nil || pr.Skipped != "" {
			t.Errorf("%s: err %v, skipped %q", pr.Project, pr.Err, pr.Skipped)
		}
	}
	if waves["lib"] != 1 || waves["s1"] != 2 || waves["s2"] != 2 {
		t.Errorf("waves = %v, want lib 1, s1 and s2 2", waves)
	}
	for _, pr := range rep.Projects {
		if pr.Project == "lib" {
			if pr.Action != "" || len(pr.Upgrades) != 0 {
				t.Errorf("lib: action %q, upgrades %v; want nothing to do", pr.Action, pr.Upgrades)
			}
			continue
		}
		var got []string
		for _, u := range pr.Upgrades {
			got = append(got, u.String()+" "+u.Kind)
		}
		want := []string{"example.com/lib v1.0.0 → v1.1.0 minor", "example.com/thirdparty v1.0.0 → v1.1.0 minor"}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("%s: upgrades = %q, want %q", pr.Project, got, want)
		}
		if pr.Action != "opened" || pr.Checks != "success" || !pr.Merged {
			t.Errorf("%s: action %q, checks %q, merged %v; want opened, success, merged", pr.Project, pr.Action, pr.Checks, pr.Merged)
		}
		if pr.PR.Title != "Upgrade 2 dependencies" || pr.PR.Head != dependents.Branch || pr.PR.Base != "main" {
			t.Errorf("%s: pull request %q from %s into %s", pr.Project, pr.PR.Title, pr.PR.Head, pr.PR.Base)
		}
	}
	for name, r := range map[string]*localRepo{"s1": s1, "s2": s2} {
		gomod := r.file(t, "go.mod")
		for _, want := range []string{"example.com/lib v1.1.0", "example.com/thirdparty v1.1.0"} {
			if !strings.Contains(gomod, want) {
				t.Errorf("%s: go.mod on main lacks %q:\n%s", name, want, gomod)
			}
		}
		if sum := r.file(t, "go.sum"); !strings.Contains(sum, "example.com/lib v1.1.0 h1:") || strings.Contains(sum, "example.com/lib v1.0.0 h1:") {
			t.Errorf("%s: go.sum on main is not tidy:\n%s", name, sum)
		}
		if got := refs.to(name, "refs/heads/main"); len(got) != 1 {
			t.Errorf("%s: ref-update callbacks for main = %v, want one (the merge)", name, got)
		}
		if got := events(t, st, ids[name], dependents.EventMerged); len(got) != 1 {
			t.Errorf("%s: merged events = %q, want one", name, got)
		}
		prs, err := st.DependencyPRs(ctx, ids[name])
		if err != nil || len(prs) != 1 || prs[0].State != "merged" || prs[0].Checks != "success" {
			t.Errorf("%s: stored pull requests = %+v (%v), want one merged with success", name, prs, err)
		}
	}

	// A second run finds nothing new and opens nothing.
	rep, err = day.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range rep.Projects {
		if pr.Err != nil || pr.Action != "" || len(pr.Upgrades) != 0 || pr.Merged {
			t.Errorf("second run, %s: err %v, action %q, upgrades %v, merged %v; want nothing", pr.Project, pr.Err, pr.Action, pr.Upgrades, pr.Merged)
		}
	}
	for _, name := range []string{"s1", "s2"} {
		if got := events(t, st, ids[name], dependents.EventOpened); len(got) != 1 {
			t.Errorf("%s: opened events after two runs = %d, want 1", name, len(got))
		}
	}
}
