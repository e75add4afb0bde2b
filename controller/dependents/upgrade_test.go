package dependents_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/providers"
)

var (
	patch      = []string{"patch"}
	patchMinor = []string{"patch", "minor"}
	all        = []string{"patch", "minor", "major"}
)

func TestChooseVersion(t *testing.T) {
	tests := []struct {
		name     string
		current  string
		versions []string
		allowed  []string
		want     string
	}{
		{"patch only", "v1.2.3", []string{"v1.2.4", "v1.2.5", "v1.3.0", "v2.0.0"}, patch, "v1.2.5"},
		{"minor", "v1.2.3", []string{"v1.2.4", "v1.3.0", "v1.10.0", "v2.0.0"}, patchMinor, "v1.10.0"},
		{"major on the same path (v0 to v1)", "v0.9.0", []string{"v0.9.1", "v1.0.0"}, all, "v1.0.0"},
		{"v0 to v1 is major, not allowed", "v0.9.0", []string{"v0.9.1", "v1.0.0"}, patchMinor, "v0.9.1"},
		{"pre-releases skipped", "v1.2.3", []string{"v1.2.4-rc.1", "v1.3.0-beta", "v1.2.4"}, patchMinor, "v1.2.4"},
		{"only pre-releases", "v1.2.3", []string{"v1.3.0-rc.1"}, all, ""},
		{"pseudo-versions never proposed", "v1.2.3", []string{"v1.2.4-0.20240101000000-abcdefabcdef"}, all, ""},
		{"from a pseudo-version to a release", "v0.0.0-20230101000000-abcdefabcdef", []string{"v0.1.0", "v0.0.1"}, patchMinor, "v0.1.0"},
		{"older and equal ignored", "v1.2.3", []string{"v1.0.0", "v1.2.3"}, all, ""},
		{"incompatible stays incompatible", "v2.0.0+incompatible", []string{"v2.1.0+incompatible", "v3.0.0+incompatible"}, patchMinor, "v2.1.0+incompatible"},
		{"incompatible major", "v2.0.0+incompatible", []string{"v2.1.0+incompatible", "v3.0.0+incompatible"}, all, "v3.0.0+incompatible"},
		{"compatible never goes to incompatible", "v1.5.0", []string{"v2.0.0+incompatible", "v1.6.0"}, all, "v1.6.0"},
		{"invalid current", "master", []string{"v1.0.0"}, all, ""},
		{"unsorted input", "v1.0.0", []string{"v1.0.3", "v1.0.10", "v1.0.2"}, patch, "v1.0.10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dependents.ChooseVersion(tt.current, tt.versions, tt.allowed); got != tt.want {
				t.Errorf("ChooseVersion(%s, %v, %v) = %q, want %q", tt.current, tt.versions, tt.allowed, got, tt.want)
			}
		})
	}
}

func TestKind(t *testing.T) {
	tests := []struct{ from, to, want string }{
		{"v1.2.3", "v1.2.4", "patch"},
		{"v1.2.3", "v1.3.0", "minor"},
		{"v1.2.3", "v2.0.0", "major"},
		{"v0.1.0", "v0.2.0", "minor"},
	}
	for _, tt := range tests {
		if got := dependents.Kind(tt.from, tt.to); got != tt.want {
			t.Errorf("Kind(%s, %s) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}

// fakeIndex is a ModuleIndex from a table; published times default to a
// year before now.
type fakeIndex struct {
	versions  map[string][]string
	published map[string]time.Time // "path@version"
	fail      map[string]error
}

func (f fakeIndex) Versions(_ context.Context, path string) ([]string, error) {
	if err := f.fail[path]; err != nil {
		return nil, err
	}
	vs, ok := f.versions[path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, providers.ErrNotFound)
	}
	return vs, nil
}

func (f fakeIndex) Published(_ context.Context, path, version string) (time.Time, error) {
	if t, ok := f.published[path+"@"+version]; ok {
		return t, nil
	}
	return time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), nil
}

func TestFinderGoModule(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	index := fakeIndex{
		versions: map[string][]string{
			"example.com/a":    {"v1.0.0", "v1.0.1", "v1.1.0"},
			"example.com/b":    {"v1.0.0", "v1.2.0"},
			"example.com/b/v2": {"v2.0.0", "v2.1.0"},
			"example.com/b/v3": {"v3.0.0"},
			"example.com/c/v2": {"v2.0.0", "v2.0.5"},
			"example.com/c/v3": {"v3.1.0"},
			"example.com/new":  {"v1.0.0", "v1.1.0", "v1.2.0"},
			"example.com/ign":  {"v1.0.0", "v1.9.0"},
			"example.com/loc":  {"v1.0.0", "v1.9.0"},
			"example.com/ind":  {"v1.0.0", "v1.9.0"},
			"gopkg.in/yaml.v2": {"v2.4.0"},
			"gopkg.in/yaml.v3": {"v3.0.1"},
		},
		published: map[string]time.Time{
			"example.com/new@v1.2.0": now.Add(-time.Hour),
			"example.com/new@v1.1.0": now.Add(-72 * time.Hour),
		},
		fail: map[string]error{"example.com/broken": fmt.Errorf("proxy says 500")},
	}
	gomod := []byte(`module example.com/app

go 1.22

require (
	example.com/a v1.0.0
	example.com/b v1.0.0
	example.com/c/v2 v2.0.0
	example.com/new v1.0.0
	example.com/ign v1.0.0
	example.com/loc v1.0.0
	example.com/broken v1.0.0
	gopkg.in/yaml.v2 v2.3.0
	example.com/ind v1.0.0 // indirect
)

replace example.com/loc => ../loc
`)
	type row struct{ name, newName, to, kind string }
	tests := []struct {
		name     string
		policy   dependents.Policy
		want     []row
		wantLeft []string // names and reason fragments
	}{
		{
			name:   "patch and minor",
			policy: dependents.Policy{Updates: patchMinor, Ignore: []string{"example.com/ign"}, Now: now},
			want: []row{
				{"example.com/a", "example.com/a", "v1.1.0", "minor"},
				{"example.com/b", "example.com/b", "v1.2.0", "minor"},
				{"example.com/c/v2", "example.com/c/v2", "v2.0.5", "patch"},
				{"example.com/new", "example.com/new", "v1.2.0", "minor"},
				{"gopkg.in/yaml.v2", "gopkg.in/yaml.v2", "v2.4.0", "minor"},
			},
			wantLeft: []string{"example.com/loc: replaced by ../loc", "example.com/broken: cannot resolve"},
		},
		{
			name:   "majors through /vN paths",
			policy: dependents.Policy{Updates: all, Ignore: []string{"example.com/ign"}, Now: now},
			want: []row{
				{"example.com/a", "example.com/a", "v1.1.0", "minor"},
				{"example.com/b", "example.com/b/v3", "v3.0.0", "major"},
				{"example.com/c/v2", "example.com/c/v3", "v3.1.0", "major"},
				{"example.com/new", "example.com/new", "v1.2.0", "minor"},
				{"gopkg.in/yaml.v2", "gopkg.in/yaml.v3", "v3.0.1", "major"},
			},
			wantLeft: []string{"example.com/loc: replaced", "example.com/broken: cannot resolve"},
		},
		{
			name:   "minimum release age falls back to an older release",
			policy: dependents.Policy{Updates: patchMinor, Ignore: []string{"example.com/*"}, MinReleaseAge: 48 * time.Hour, Now: now},
			want: []row{
				{"gopkg.in/yaml.v2", "gopkg.in/yaml.v2", "v2.4.0", "minor"},
			},
			wantLeft: []string{"example.com/loc: replaced"},
		},
		{
			name:   "minimum release age",
			policy: dependents.Policy{Updates: patchMinor, Ignore: []string{"example.com/a", "example.com/b", "example.com/c", "example.com/ign", "gopkg.in"}, MinReleaseAge: 100 * time.Hour, Now: now},
			want:   nil,
			wantLeft: []string{
				"example.com/new: younger than the minimum release age",
				"example.com/loc: replaced", "example.com/broken: cannot resolve",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := dependents.Finder{Index: index}
			ups, left, err := f.GoModule(context.Background(), gomod, tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, u := range ups {
				got = append(got, row{u.Name, u.NewName, u.To, u.Kind})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("upgrades:\n got %v\nwant %v", got, tt.want)
			}
			var gotLeft []string
			for _, l := range left {
				gotLeft = append(gotLeft, l.Name+": "+l.Reason)
			}
			if len(gotLeft) != len(tt.wantLeft) {
				t.Fatalf("left out = %q, want %d like %q", gotLeft, len(tt.wantLeft), tt.wantLeft)
			}
			for _, w := range tt.wantLeft {
				found := false
				for _, g := range gotLeft {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Errorf("left out = %q, want one starting %q", gotLeft, w)
				}
			}
		})
	}
}

func TestEditGoMod(t *testing.T) {
	in := []byte(`// The app.
module example.com/app

go 1.22

require (
	example.com/a v1.0.0 // keep this comment
	example.com/b v1.0.0
	example.com/c v1.0.0
)

replace example.com/c => ../c
`)
	out, err := dependents.EditGoMod(in, []dependents.Upgrade{
		{Ecosystem: dependents.GoModule, Name: "example.com/a", NewName: "example.com/a", From: "v1.0.0", To: "v1.1.0"},
		{Ecosystem: dependents.GoModule, Name: "example.com/b", NewName: "example.com/b/v2", From: "v1.0.0", To: "v2.0.0"},
		{Ecosystem: dependents.DockerImage, Name: "golang", From: "1.22", To: "1.23"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `// The app.
module example.com/app

go 1.22

require (
	example.com/a v1.1.0 // keep this comment
	example.com/c v1.0.0
	example.com/b/v2 v2.0.0
)

replace example.com/c => ../c
`
	if string(out) != want {
		t.Errorf("EditGoMod:\n%s\nwant:\n%s", out, want)
	}
}

func TestRewriteImports(t *testing.T) {
	tests := []struct {
		name, src, old, new, want string
		changed                   bool
	}{
		{
			name:    "module and packages",
			src:     "package x\n\nimport (\n\t\"fmt\"\n\tb \"example.com/b\"\n\t\"example.com/b/sub\"\n\t\"example.com/bb\"\n)\n\n// example.com/b stays in comments\nvar _ = fmt.Sprint(b.X, sub.Y, \"example.com/b\")\n",
			old:     "example.com/b",
			new:     "example.com/b/v2",
			want:    "package x\n\nimport (\n\t\"fmt\"\n\tb \"example.com/b/v2\"\n\t\"example.com/b/v2/sub\"\n\t\"example.com/bb\"\n)\n\n// example.com/b stays in comments\nvar _ = fmt.Sprint(b.X, sub.Y, \"example.com/b\")\n",
			changed: true,
		},
		{
			name:    "v2 to v3",
			src:     "package x\n\nimport \"example.com/c/v2/pkg\"\n",
			old:     "example.com/c/v2",
			new:     "example.com/c/v3",
			want:    "package x\n\nimport \"example.com/c/v3/pkg\"\n",
			changed: true,
		},
		{
			name: "a newer major is another module",
			src:  "package x\n\nimport \"example.com/b/v3\"\n",
			old:  "example.com/b",
			new:  "example.com/b/v2",
			want: "package x\n\nimport \"example.com/b/v3\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := dependents.RewriteImports([]byte(tt.src), tt.old, tt.new)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || changed != tt.changed {
				t.Errorf("RewriteImports = (%q, %v), want (%q, %v)", got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestChooseTag(t *testing.T) {
	tags := []string{
		"latest", "1", "2", "1.21", "1.22", "1.23", "1.22-alpine", "1.23-alpine", "1.24rc1-alpine",
		"1.22.3", "1.22.5", "1.23.0", "1.22.3-alpine", "1.22.5-alpine", "1.23.1-alpine",
		"1.22.5-alpine3.19", "1.22.6-alpine3.20", "1.23-bookworm", "v1.2.3", "v1.2.4",
		"1.22.10-alpine", "01.30",
	}
	tests := []struct {
		current  string
		allowed  []string
		want     string
		wantKind string
	}{
		{"1.22.3-alpine", patch, "1.22.10-alpine", "patch"},
		{"1.22.3-alpine", patchMinor, "1.23.1-alpine", "minor"},
		{"1.22-alpine", patchMinor, "1.23-alpine", "minor"},
		{"1.22", patchMinor, "1.23", "minor"},
		{"1.22", patch, "", ""},
		{"1.22.3", patchMinor, "1.23.0", "minor"},
		{"1.22.5-alpine3.19", all, "", ""},
		{"1", patchMinor, "", ""},
		{"1", all, "2", "major"},
		{"v1.2.3", patch, "v1.2.4", "patch"},
		{"latest", all, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.current, func(t *testing.T) {
			got, kind := dependents.ChooseTag(tt.current, tags, tt.allowed)
			if got != tt.want || kind != tt.wantKind {
				t.Errorf("ChooseTag(%s, %v) = %q %q, want %q %q", tt.current, tt.allowed, got, kind, tt.want, tt.wantKind)
			}
		})
	}
}

func TestBody(t *testing.T) {
	body := dependents.Body([]dependents.Upgrade{
		{Ecosystem: dependents.GoModule, File: "go.mod", Name: "github.com/acme/lib", NewName: "github.com/acme/lib", From: "v1.0.0", To: "v1.1.0", Kind: "minor"},
		{Ecosystem: dependents.GoModule, File: "go.mod", Name: "example.com/x", NewName: "example.com/x/v2", From: "v1.0.0", To: "v2.0.0", Kind: "major"},
		{Ecosystem: dependents.DockerImage, File: "Dockerfile", Name: "golang", NewName: "golang", From: "1.22-alpine", To: "1.23-alpine", Kind: "minor"},
	}, []dependents.LeftOut{
		{Upgrade: dependents.Upgrade{Name: "example.com/y", From: "v1.0.0", To: "v1.2.0"}, Reason: "go build ./...: checks failed | exit 1", Log: "y.go:3: undefined: Z"},
	})
	for _, want := range []string{
		"| module | from | to | kind |",
		"| github.com/acme/lib | v1.0.0 | [v1.1.0](https://github.com/acme/lib/compare/v1.0.0...v1.1.0) | minor |",
		"| example.com/x | v1.0.0 | [example.com/x/v2 v2.0.0](https://pkg.go.dev/example.com/x/v2@v2.0.0) | major |",
		"| golang (Dockerfile) | 1.22-alpine | [1.23-alpine](https://hub.docker.com/_/golang/tags) | minor |",
		"### Left out",
		`| example.com/y | v1.0.0 | v1.2.0 | go build ./...: checks failed \| exit 1 |`,
		"y.go:3: undefined: Z",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if got := dependents.Title(3); got != "Upgrade 3 dependencies" {
		t.Errorf("Title(3) = %q", got)
	}
	if got := dependents.Title(1); got != "Upgrade 1 dependency" {
		t.Errorf("Title(1) = %q", got)
	}
}
