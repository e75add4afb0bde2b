package dependents_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/controller/dependents/proxytest"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/gitlocal"
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

// TestWaves checks what happens between waves: the library's upgrade is
// merged first; when the pipeline tags and verifies it, the service in the
// next wave is upgraded to the new library version; when the deploy is
// rolled back, the later waves do not run.
func TestWaves(t *testing.T) {
	tests := []struct {
		name      string
		afterKind string // the event the "pipeline" writes after the library's merge
		wantS     string // what becomes of the service
	}{
		{"verified", "verified", "merged"},
		{"rolled back", "rolled_back", "skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			libV1 := libFiles("v1.0.0")
			libV1["go.mod"] = "module example.com/lib\n\ngo 1.22\n\nrequire example.com/thirdparty v1.0.0\n"
			libV1["dep.go"] = "package lib\n\nimport \"example.com/thirdparty\"\n\nvar Hello = thirdparty.Hello\n"
			libV1[".mainline.yaml"] = "builds:\n  - name: api\n    dockerfile: Dockerfile\ndependencies: { automerge: true }\n"
			libV1["Dockerfile"] = "FROM scratch\n"
			px := proxytest.New(t, thirdparty("v1.0.0"), thirdparty("v1.1.0"), proxytest.Module{Path: "example.com/lib", Version: "v1.0.0", Files: libV1})
			lib := newLocalRepo(t, px, libV1, true)
			lib.tag(t, "v1.0.0")
			svc := serviceFiles("svc")
			svc["go.mod"] = "module example.com/svc\n\ngo 1.22\n\nrequire (\n\texample.com/lib v1.0.0\n\texample.com/thirdparty v1.1.0\n)\n"
			s := newLocalRepo(t, px, svc, true)

			st := storetest.SQLite(t)
			if _, err := st.CreateProject(ctx, store.Project{Name: "lib", SCM: "git", Location: lib.bare}); err != nil {
				t.Fatal(err)
			}
			svcP, err := st.CreateProject(ctx, store.Project{Name: "svc", SCM: "git", Location: s.bare})
			if err != nil {
				t.Fatal(err)
			}
			index, err := goproxy.New(goproxy.Config{Proxy: px.URL})
			if err != nil {
				t.Fatal(err)
			}
			// The pipeline, played by the ref-update callback: the merge on
			// the library's main is tagged v1.0.1, the tag reaches the
			// proxy, and the deploy ends with tt.afterKind.
			open := func(_ context.Context, p store.Project) (providers.SCM, error) {
				return gitlocal.Open(p.Location, gitlocal.OnRefUpdate(func(ctx context.Context, u gitlocal.RefUpdate) {
					if p.Name != "lib" || u.Ref != "refs/heads/main" {
						return
					}
					run(t, lib.bare, nil, "git", "tag", "v1.0.1", u.New)
					files := libV1
					files["go.mod"] = run(t, lib.bare, nil, "git", "show", u.New+":go.mod") + "\n"
					px.Add(proxytest.Module{Path: "example.com/lib", Version: "v1.0.1", Files: files})
					if _, err := st.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: tt.afterKind, Message: "deploy of v1.0.1", At: time.Now().UTC()}); err != nil {
						t.Error(err)
					}
				}))
			}
			day := &dependents.Day{Store: st, SCM: open, Index: index, Env: px.Env(), WaveWait: time.Minute, PollInterval: 10 * time.Millisecond}
			rep, err := day.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]dependents.ProjectReport{}
			for _, pr := range rep.Projects {
				got[pr.Project] = pr
			}
			if l := got["lib"]; !l.Merged || l.Wave != 1 {
				t.Fatalf("lib: merged %v in wave %d (err %v); want merged in wave 1", l.Merged, l.Wave, l.Err)
			}
			sv := got["svc"]
			switch tt.wantS {
			case "merged":
				if !sv.Merged || len(sv.Upgrades) != 1 || sv.Upgrades[0].String() != "example.com/lib v1.0.0 → v1.0.1" {
					t.Errorf("svc: merged %v, upgrades %v (err %v); want example.com/lib v1.0.0 → v1.0.1 merged", sv.Merged, sv.Upgrades, sv.Err)
				}
				if rep.Stopped != "" {
					t.Errorf("Stopped = %q, want empty", rep.Stopped)
				}
			case "skipped":
				if sv.Skipped == "" || sv.Action != "" || rep.Stopped == "" {
					t.Errorf("svc: skipped %q, action %q, Stopped %q; want skipped because the wave was stopped", sv.Skipped, sv.Action, rep.Stopped)
				}
				if got := events(t, st, svcP.ID, dependents.EventOpened); len(got) != 0 {
					t.Errorf("svc got a pull request after a rollback: %q", got)
				}
			}
		})
	}
}

// TestLeftOut: an upgrade that breaks the build and a module that cannot be
// resolved are left out of the pull request, which keeps the rest and
// lists them with the failing output.
func TestLeftOut(t *testing.T) {
	ctx := context.Background()
	broken := proxytest.Module{Path: "example.com/thirdparty", Version: "v1.1.0", Files: map[string]string{
		"thirdparty.go": "package thirdparty\n\nfunc Greet() string { return \"renamed\" }\n",
	}}
	px := proxytest.New(t,
		proxytest.Module{Path: "example.com/lib", Version: "v1.0.0", Files: libFiles("v1.0.0")},
		proxytest.Module{Path: "example.com/lib", Version: "v1.1.0", Files: libFiles("v1.1.0")},
		thirdparty("v1.0.0"), broken,
		proxytest.Module{Path: "example.com/flaky", Version: "v1.0.0", Files: map[string]string{"flaky.go": "package flaky\n"}},
		proxytest.Module{Path: "example.com/flaky", Version: "v1.1.0", Files: map[string]string{"flaky.go": "package flaky\n"}},
	)
	files := serviceFiles("svc")
	files["go.mod"] = "module example.com/svc\n\ngo 1.22\n\nrequire (\n\texample.com/lib v1.0.0\n\texample.com/thirdparty v1.0.0\n\texample.com/flaky v1.0.0\n)\n"
	files["flaky.go"] = "package main\n\nimport _ \"example.com/flaky\"\n"
	svc := newLocalRepo(t, px, files, false)
	st := storetest.SQLite(t)
	if _, err := st.CreateProject(ctx, store.Project{Name: "svc", SCM: "git", Location: svc.bare}); err != nil {
		t.Fatal(err)
	}
	index, err := goproxy.New(goproxy.Config{Proxy: px.URL})
	if err != nil {
		t.Fatal(err)
	}
	failing := failingIndex{ModuleIndex: index, path: "example.com/flaky"}
	var refs refUpdates
	day := &dependents.Day{Store: st, SCM: refs.opener(t), Index: failing, Env: px.Env()}
	rep, err := day.RunProject(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Upgrades) != 1 || rep.Upgrades[0].Name != "example.com/lib" {
		t.Errorf("upgrades = %v, want only example.com/lib", rep.Upgrades)
	}
	left := map[string]dependents.LeftOut{}
	for _, l := range rep.LeftOut {
		left[l.Name] = l
	}
	if l := left["example.com/thirdparty"]; !strings.Contains(l.Reason, "go build") || !strings.Contains(l.Log, "undefined: thirdparty.Hello") {
		t.Errorf("thirdparty left out with %q, log %q; want the go build failure", l.Reason, l.Log)
	}
	if l := left["example.com/flaky"]; !strings.Contains(l.Reason, "cannot resolve") {
		t.Errorf("flaky left out with %q, want cannot resolve", l.Reason)
	}
	if !rep.Merged || rep.PR.Title != "Upgrade 1 dependency" {
		t.Errorf("merged %v, title %q; want the one good upgrade merged", rep.Merged, rep.PR.Title)
	}
	for _, want := range []string{"### Left out", "example.com/thirdparty | v1.0.0 | v1.1.0 |", "undefined: thirdparty.Hello", "example.com/flaky"} {
		if !strings.Contains(rep.PR.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, rep.PR.Body)
		}
	}
	if gomod := svc.file(t, "go.mod"); !strings.Contains(gomod, "example.com/thirdparty v1.0.0") || !strings.Contains(gomod, "example.com/lib v1.1.0") {
		t.Errorf("go.mod on main:\n%s", gomod)
	}
}

// failingIndex fails every lookup of one module, as an unreachable or
// broken proxy would.
type failingIndex struct {
	providers.ModuleIndex
	path string
}

func (f failingIndex) Versions(ctx context.Context, path string) ([]string, error) {
	if path == f.path {
		return nil, fmt.Errorf("GET %s/@v/list: 502 Bad Gateway", path)
	}
	return f.ModuleIndex.Versions(ctx, path)
}

// TestMajorUpgradeAndVendor: with major updates allowed, a module moves to
// its /v2 path with the imports rewritten; a repository that vendors gets
// vendor/ brought up to date in the same pull request.
func TestMajorUpgradeAndVendor(t *testing.T) {
	ctx := context.Background()
	v2 := proxytest.Module{Path: "example.com/thirdparty/v2", Version: "v2.0.0", Files: map[string]string{
		"thirdparty.go": "package thirdparty\n\nfunc Hello() string { return \"hello from v2\" }\n",
	}}
	px := proxytest.New(t, thirdparty("v1.0.0"), thirdparty("v1.0.1"), v2,
		proxytest.Module{Path: "example.com/lib", Version: "v1.0.0", Files: libFiles("v1.0.0")},
		proxytest.Module{Path: "example.com/lib", Version: "v1.0.1", Files: libFiles("v1.0.1")})
	files := serviceFiles("svc")
	files[".mainline.yaml"] = "dependencies: { automerge: true, updates: [patch, minor, major] }\n"
	svc := newLocalRepo(t, px, files, true)
	run(t, svc.clone, px.Env(), "go", "mod", "vendor")
	svc.commit(t, "vendor", nil)

	st := storetest.SQLite(t)
	if _, err := st.CreateProject(ctx, store.Project{Name: "svc", SCM: "git", Location: svc.bare}); err != nil {
		t.Fatal(err)
	}
	index, err := goproxy.New(goproxy.Config{Proxy: px.URL})
	if err != nil {
		t.Fatal(err)
	}
	var refs refUpdates
	day := &dependents.Day{Store: st, SCM: refs.opener(t), Index: index, Env: px.Env()}
	rep, err := day.RunProject(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range rep.Upgrades {
		got = append(got, u.String()+" "+u.Kind)
	}
	want := "example.com/lib v1.0.0 → v1.0.1 patch; example.com/thirdparty v1.0.0 → example.com/thirdparty/v2 v2.0.0 major"
	if strings.Join(got, "; ") != want {
		t.Errorf("upgrades = %q, want %q", strings.Join(got, "; "), want)
	}
	if !rep.Merged {
		t.Fatalf("not merged: checks %q, err %v, left out %+v", rep.Checks, rep.Err, rep.LeftOut)
	}
	if main := svc.file(t, "main.go"); !strings.Contains(main, `"example.com/thirdparty/v2"`) {
		t.Errorf("main.go on main does not import the v2 path:\n%s", main)
	}
	if gomod := svc.file(t, "go.mod"); !strings.Contains(gomod, "example.com/thirdparty/v2 v2.0.0") || strings.Contains(gomod, "example.com/thirdparty v1") {
		t.Errorf("go.mod on main:\n%s", gomod)
	}
	modules := svc.file(t, "vendor/modules.txt")
	for _, want := range []string{"# example.com/thirdparty/v2 v2.0.0", "# example.com/lib v1.0.1"} {
		if !strings.Contains(modules, want) {
			t.Errorf("vendor/modules.txt lacks %q:\n%s", want, modules)
		}
	}
	if src := svc.file(t, "vendor/example.com/thirdparty/v2/thirdparty.go"); !strings.Contains(src, "hello from v2") {
		t.Errorf("vendored v2 source:\n%s", src)
	}
}
