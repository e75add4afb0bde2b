package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// checkGolden compares got with testdata/name, or rewrites the file when
// the test runs with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update if the change is right):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// runMainline runs the CLI with args in dir and returns its output and
// exit status the way main would compute it.
func runMainline(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if dir != "" {
		t.Chdir(dir)
	}
	var out, errOut bytes.Buffer
	root := newRootCmd(func(string) string { return "" })
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func exitStatus(err error) int {
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case asExitCode(err, &ec):
		return int(ec)
	}
	return 1
}

const validConfig = `branch: main
builds:
  - name: api
    dockerfile: Dockerfile
    instances: 2
    health: { path: /_internal_/healthcheck, timeout: 2s }
  - name: www
    dockerfile: www/Dockerfile
    depends_on: [api]
verify: .mainline/verify.yaml
dependencies: { schedule: "0 9 * * 1-5", automerge: true }
`

const invalidConfig = `builds:
  - name: api
    dockerfile: ../Dockerfile
    instances: -1
  - name: www
    image: ghcr.io/acme/www
    depends_on: [api, www]
`

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".mainline.yaml", validConfig)
	write("bad/.mainline.yaml", invalidConfig)
	write("lib.yaml", "dependencies: {updates: [patch]}\n")
	write("one.yaml", "builds: [{name: app, image: ghcr.io/acme/app, instances: 3}]\nbranch: trunk\n")
	write("big.yaml", "# "+strings.Repeat("x", 300<<10)+"\n")

	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantErrOut string
		wantErr    string // the error main would print after "mainline: "
		wantStatus int
	}{
		{
			name:    "default file in the current directory",
			args:    []string{"config", "validate"},
			wantOut: ".mainline.yaml: ok — 2 builds (api ×2, www ×1), branch main, verify .mainline/verify.yaml\n",
		},
		{
			name:    "file named",
			args:    []string{"config", "validate", "one.yaml"},
			wantOut: "one.yaml: ok — 1 build (app ×3), branch trunk, no verify suite\n",
		},
		{
			name:    "library without builds",
			args:    []string{"config", "validate", "lib.yaml"},
			wantOut: "lib.yaml: ok — 0 builds, default branch, no verify suite\n",
		},
		{
			name: "invalid file prints every error",
			args: []string{"config", "validate", "bad/.mainline.yaml"},
			wantErrOut: "bad/.mainline.yaml:3:17: builds[0].dockerfile: must stay inside the repository, got \"../Dockerfile\"\n" +
				"bad/.mainline.yaml:4:16: builds[0].instances: must be ≥ 0, got -1\n" +
				"bad/.mainline.yaml:7:23: builds[1].depends_on[1]: build \"www\" cannot depend on itself\n",
			wantErr:    "exit status 1",
			wantStatus: 1,
		},
		{
			name: "directory means its .mainline.yaml",
			args: []string{"config", "validate", "bad"},
			wantErrOut: "bad/.mainline.yaml:3:17: builds[0].dockerfile: must stay inside the repository, got \"../Dockerfile\"\n" +
				"bad/.mainline.yaml:4:16: builds[0].instances: must be ≥ 0, got -1\n" +
				"bad/.mainline.yaml:7:23: builds[1].depends_on[1]: build \"www\" cannot depend on itself\n",
			wantErr:    "exit status 1",
			wantStatus: 1,
		},
		{
			name:       "file over the size limit",
			args:       []string{"config", "validate", "big.yaml"},
			wantErrOut: "big.yaml: file is larger than the limit of 262144 bytes\n",
			wantErr:    "exit status 1",
			wantStatus: 1,
		},
		{
			name:       "missing file",
			args:       []string{"config", "validate", "nope.yaml"},
			wantErr:    "nope.yaml: no such file (run this in the repository root, or name the file: mainline config validate PATH)",
			wantStatus: 1,
		},
		{
			name:       "too many arguments",
			args:       []string{"config", "validate", "a.yaml", "b.yaml"},
			wantErr:    "accepts at most 1 arg(s), received 2",
			wantStatus: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runMainline(t, dir, tc.args...)
			if out != tc.wantOut {
				t.Errorf("stdout:\n got: %q\nwant: %q", out, tc.wantOut)
			}
			if errOut != tc.wantErrOut {
				t.Errorf("stderr:\n got: %q\nwant: %q", errOut, tc.wantErrOut)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr {
				t.Errorf("error = %q, want %q", gotErr, tc.wantErr)
			}
			if got := exitStatus(err); got != tc.wantStatus {
				t.Errorf("exit status = %d, want %d", got, tc.wantStatus)
			}
		})
	}
}

// TestConfigValidateMissingDefault checks the message when the command
// runs outside a repository.
func TestConfigValidateMissingDefault(t *testing.T) {
	_, _, err := runMainline(t, t.TempDir(), "config", "validate")
	var ec exitCode
	if err == nil || errors.As(err, &ec) {
		t.Fatalf("error = %v, want an error to print", err)
	}
	if got, want := err.Error(), ".mainline.yaml: no such file (run this in the repository root, or name the file: mainline config validate PATH)"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestConfigValidateHelp(t *testing.T) {
	out, errOut, err := runMainline(t, "", "config", "validate", "--help")
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	if errOut != "" {
		t.Errorf("--help wrote to stderr: %q", errOut)
	}
	checkGolden(t, "config-validate-help.golden", out)
}
