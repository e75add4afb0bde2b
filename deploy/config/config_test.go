package config_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // time zones in the tests resolve on machines without tzdata

	"github.com/mainline-cd/mainline/deploy/config"
)

func TestParseBad(t *testing.T) {
	if len(badFiles) < 25 {
		t.Fatalf("only %d bad files; keep at least 25", len(badFiles))
	}
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse(".mainline.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error:\n%s", cfg, tc.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config along with its error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Parse error:\n got: %s\nwant: %s", got, tc.want)
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error is %T, want config.Errors", err)
			}
			if got, want := len(errs), strings.Count(tc.want, "\n")+1; got != want {
				t.Errorf("got %d errors, want %d", got, want)
			}
			for _, e := range errs {
				if e.File != ".mainline.yaml" {
					t.Errorf("error %q: File = %q, want .mainline.yaml", e, e.File)
				}
			}
		})
	}
}

// TestParseErrorFields checks that an error carries its parts separately,
// for callers that show them apart (the dashboard links to the line).
func TestParseErrorFields(t *testing.T) {
	src := "builds:\n  - name: api\n    dockerfile: Dockerfile\n    instances: -1\n"
	_, err := config.Parse("repo/.mainline.yaml", []byte(src))
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("Parse error = %v, want one config.Error", err)
	}
	want := config.Error{File: "repo/.mainline.yaml", Line: 4, Column: 16, Field: "builds[0].instances", Msg: "must be ≥ 0, got -1"}
	if errs[0] != want {
		t.Errorf("got %+v, want %+v", errs[0], want)
	}
}

// TestParseKeepsEnvValuesOut checks that values of env, which may be
// secrets, never appear in error messages.
func TestParseKeepsEnvValuesOut(t *testing.T) {
	src := `builds:
  - name: api
    dockerfile: Dockerfile
    env:
      TOKEN: {value: hunter2-secret}
      "PASS WORD": hunter3-secret
      LIST: [hunter4-secret]
`
	_, err := config.Parse(".mainline.yaml", []byte(src))
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error shows an env value:\n%v", err)
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != 3 {
		t.Errorf("got %d errors, want 3:\n%v", got, err)
	}
}

// design is the example .mainline.yaml of DESIGN.md.
const design = `branch: main                 # default: the repository's default branch
builds:
  - name: api
    dockerfile: Dockerfile   # context is the repository root unless ` + "`context:`" + ` says otherwise
    instances: 2
    port: 8080
    health: { path: /_internal_/healthcheck, timeout: 2s }
    rollout: { max_surge: 1, max_unavailable: 0 }
  - name: www
    dockerfile: www/Dockerfile
    depends_on: [api]        # www deploys only after api is at its desired state
verify: .mainline/verify.yaml
dependencies: { schedule: "0 9 * * 1-5", automerge: true }
`

func TestParseGood(t *testing.T) {
	defaultDeps := config.Dependencies{
		Schedule: "0 9 * * 1-5",
		Timezone: "UTC",
		Updates:  []string{"patch", "minor"},
	}
	defaultHealth := config.Health{Path: "/healthz", Timeout: config.Duration(2 * time.Second), Interval: config.Duration(time.Second), Threshold: 2}
	defaultRollout := config.Rollout{MaxSurge: 1, MaxUnavailable: 0}
	designWant := &config.Config{
		Branch: "main",
		Builds: []config.Build{
			{
				Name: "api", Dockerfile: "Dockerfile", Context: ".", Instances: 2, Port: 8080,
				Health:  config.Health{Path: "/_internal_/healthcheck", Timeout: config.Duration(2 * time.Second), Interval: config.Duration(time.Second), Threshold: 2},
				Rollout: config.Rollout{MaxSurge: 1, MaxUnavailable: 0},
			},
			{
				Name: "www", Dockerfile: "www/Dockerfile", Context: ".", Instances: 1, Port: 8080,
				Health: defaultHealth, Rollout: defaultRollout, DependsOn: []string{"api"},
			},
		},
		Verify: ".mainline/verify.yaml",
		Dependencies: config.Dependencies{
			Schedule: "0 9 * * 1-5", Timezone: "UTC", Automerge: true, Updates: []string{"patch", "minor"},
		},
	}
	tests := []struct {
		name string
		src  string
		want *config.Config
	}{
		{"design example", design, designWant},
		{"design example with CRLF line ends", strings.ReplaceAll(design, "\n", "\r\n"), designWant},
		{"design example with a byte order mark", "\ufeff" + design, designWant},
		{"empty file", "", &config.Config{Dependencies: defaultDeps}},
		{"only comments", "# nothing to build yet\n", &config.Config{Dependencies: defaultDeps}},
		{"library without builds", "builds: []\ndependencies: {automerge: true}\n", &config.Config{
			Builds: nil,
			Dependencies: config.Dependencies{
				Schedule: "0 9 * * 1-5", Timezone: "UTC", Automerge: true, Updates: []string{"patch", "minor"},
			},
		}},
		{"external image and every field", `branch: release/v2
builds:
  - name: api
    image: 127.0.0.1:5000/acme/api
    instances: 0
    port: 9000
    health:
      path: /ready?full=1
      timeout: 500ms
      interval: 3s
      threshold: 5
    rollout: {max_surge: 0, max_unavailable: 1}
    env:
      LOG_LEVEL: debug
      PORT: 9000
      DEBUG: true
      MOTD: |
        hello
  - name: web-2
    dockerfile: ./web/../web/Dockerfile
    context: web/
    build:
      command: CGO_ENABLED=0 go build -o app .
      timeout: 90s
    depends_on: [api]
dependencies:
  schedule: "30 6 * * 1"
  timezone: Europe/Berlin
  automerge: false
  ignore: [github.com/aws/*, golang]
  updates: [major, patch]
  min_release_age: 3d
  group: true
`, &config.Config{
			Branch: "release/v2",
			Builds: []config.Build{
				{
					Name: "api", Image: "127.0.0.1:5000/acme/api", Instances: 0, Port: 9000,
					Health:  config.Health{Path: "/ready?full=1", Timeout: config.Duration(500 * time.Millisecond), Interval: config.Duration(3 * time.Second), Threshold: 5},
					Rollout: config.Rollout{MaxSurge: 0, MaxUnavailable: 1},
					Env:     map[string]string{"LOG_LEVEL": "debug", "PORT": "9000", "DEBUG": "true", "MOTD": "hello\n"},
				},
				{
					Name: "web-2", Dockerfile: "web/Dockerfile", Context: "web", Instances: 1, Port: 8080,
					Build:  config.BuildStep{Command: "CGO_ENABLED=0 go build -o app .", Timeout: config.Duration(90 * time.Second)},
					Health: defaultHealth, Rollout: defaultRollout, DependsOn: []string{"api"},
				},
			},
			Dependencies: config.Dependencies{
				Schedule: "30 6 * * 1", Timezone: "Europe/Berlin", Ignore: []string{"github.com/aws/*", "golang"},
				Updates: []string{"major", "patch"}, MinReleaseAge: config.Duration(72 * time.Hour), Group: true,
			},
		}},
		{"build command gets the default timeout", `builds:
  - name: app
    dockerfile: Dockerfile
    build: {command: go build -o app .}
`, &config.Config{
			Builds: []config.Build{{
				Name: "app", Dockerfile: "Dockerfile", Context: ".", Instances: 1, Port: 8080,
				Build:  config.BuildStep{Command: "go build -o app .", Timeout: config.Duration(10 * time.Minute)},
				Health: defaultHealth, Rollout: defaultRollout,
			}},
			Dependencies: defaultDeps,
		}},
		{"diamond of depends_on is not a cycle", `builds:
  - {name: db, image: ghcr.io/acme/db}
  - {name: api, image: ghcr.io/acme/api, depends_on: [db]}
  - {name: jobs, image: ghcr.io/acme/jobs, depends_on: [db]}
  - {name: www, image: ghcr.io/acme/www, depends_on: [api, jobs]}
`, &config.Config{
			Builds: []config.Build{
				{Name: "db", Image: "ghcr.io/acme/db", Instances: 1, Port: 8080, Health: defaultHealth, Rollout: defaultRollout},
				{Name: "api", Image: "ghcr.io/acme/api", Instances: 1, Port: 8080, Health: defaultHealth, Rollout: defaultRollout, DependsOn: []string{"db"}},
				{Name: "jobs", Image: "ghcr.io/acme/jobs", Instances: 1, Port: 8080, Health: defaultHealth, Rollout: defaultRollout, DependsOn: []string{"db"}},
				{Name: "www", Image: "ghcr.io/acme/www", Instances: 1, Port: 8080, Health: defaultHealth, Rollout: defaultRollout, DependsOn: []string{"api", "jobs"}},
			},
			Dependencies: defaultDeps,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.Parse(".mainline.yaml", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse:\n got: %+v\nwant: %+v", got, tc.want)
			}
		})
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := config.Errors{
		{File: "a.yaml", Line: 3, Column: 7, Field: "builds[0].port", Msg: "must be between 1 and 65535, got 0"},
		{File: "a.yaml", Line: 9, Column: 1, Msg: "invalid YAML: unexpected key"},
		{File: "a.yaml", Msg: "file is not valid UTF-8"},
	}
	want := "a.yaml:3:7: builds[0].port: must be between 1 and 65535, got 0\n" +
		"a.yaml:9:1: invalid YAML: unexpected key\n" +
		"a.yaml: file is not valid UTF-8"
	if got := errs.Error(); got != want {
		t.Errorf("Errors.Error():\n got: %s\nwant: %s", got, want)
	}
}

func TestDurationString(t *testing.T) {
	if got, want := config.Duration(1500*time.Millisecond).String(), "1.5s"; got != want {
		t.Errorf("Duration.String() = %q, want %q", got, want)
	}
}

// TestParseCapsErrors checks that a hostile file cannot make an error list
// as long as itself.
func TestParseCapsErrors(t *testing.T) {
	var src strings.Builder
	for i := range 200 {
		fmt.Fprintf(&src, "key%d: x\n", i)
	}
	_, err := config.Parse(".mainline.yaml", []byte(src.String()))
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error = %v, want config.Errors", err)
	}
	if got, want := len(errs), config.MaxErrors+1; got != want {
		t.Fatalf("got %d errors, want %d", got, want)
	}
	if got, want := errs[len(errs)-1].Error(), ".mainline.yaml: too many errors"; got != want {
		t.Errorf("last error = %q, want %q", got, want)
	}
	if got, want := errs[0].Error(), ".mainline.yaml:1:1: key0: unknown field (expected one of branch, builds, verify, dependencies)"; got != want {
		t.Errorf("first error = %q, want %q", got, want)
	}
}
