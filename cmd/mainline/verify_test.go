package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/deploy/verify/verifytest"
)

// ordersSuite is the sample suite the verify package tests with.
const ordersSuite = "../../deploy/verify/testdata/orders.yaml"

var (
	runIDPattern    = regexp.MustCompile(`\(run [0-9a-f]{16}\)`)
	durationPattern = regexp.MustCompile(`( · | in )[0-9.]+(ns|µs|ms|s)\b`)
	portPattern     = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
)

// normaliseVerify replaces what changes from run to run: ports, run ids and
// latencies.
func normaliseVerify(s string) string {
	s = runIDPattern.ReplaceAllString(s, "(run RUNID)")
	s = durationPattern.ReplaceAllString(s, "${1}DURATION")
	return portPattern.ReplaceAllString(s, "127.0.0.1:PORT")
}

func TestVerifyRunGolden(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		golden   string
		status   string // what the service calls a new order; "" is right
		url      string // "" means the service
		wantExit bool
	}{
		{golden: "verify-run-pass.golden"},
		{golden: "verify-run-fail.golden", status: "closed", wantExit: true},
		{golden: "verify-run-error.golden", url: closedURL, wantExit: true},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			srv := httptest.NewServer((&verifytest.Orders{Status: tt.status}).Handler())
			t.Cleanup(srv.Close)
			url := tt.url
			if url == "" {
				url = srv.URL
			}
			stdout, stderr, err := runVerify(t, "verify", "run", ordersSuite, "--url", url)
			var ec exitCode
			switch {
			case tt.wantExit && !(asExitCode(err, &ec) && ec == 1):
				t.Errorf("err = %v, want exit status 1", err)
			case !tt.wantExit && err != nil:
				t.Errorf("err = %v, want success", err)
			}
			if stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			checkVerifyGolden(t, filepath.Join("testdata", tt.golden), normaliseVerify(stdout))
		})
	}
}

func TestVerifyRunParseError(t *testing.T) {
	stdout, stderr, err := runVerify(t, "verify", "run", "../../deploy/verify/testdata/bad/unknown-matcher.yaml", "--url", "http://127.0.0.1:1")
	var ec exitCode
	if !asExitCode(err, &ec) || ec != 1 {
		t.Errorf("err = %v, want exit status 1", err)
	}
	want := `../../deploy/verify/testdata/bad/unknown-matcher.yaml:7:23: steps[0].expect.json["$.status"].equal: unknown matcher; want one of equals, exists, matches, lt, lte, gt, gte, not` + "\n"
	if stderr != want || stdout != "" {
		t.Errorf("stdout %q, stderr:\n got %q\nwant %q", stdout, stderr, want)
	}
}

func TestVerifyRunVarsAndSecrets(t *testing.T) {
	const token = "tok-9f8e7d"
	srv := httptest.NewServer((&verifytest.Orders{Token: token}).Handler())
	t.Cleanup(srv.Close)
	suite := filepath.Join(t.TempDir(), "whoami.yaml")
	err := os.WriteFile(suite, []byte(`base_url: ${SERVICE_URL}
steps:
  - name: who am i
    request:
      path: /whoami
      headers: {Authorization: "Bearer ${env:API_TOKEN}"}
    expect:
      json: {"$.user": "${user}", "$.token": "wrong-${env:API_TOKEN}"}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string {
		if name == "API_TOKEN" {
			return token
		}
		return ""
	}
	root := newRootCmd(getenv)
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"verify", "run", suite, "--url", srv.URL, "--var", "user=alice"})
	err = root.ExecuteContext(context.Background())
	var ec exitCode
	if !asExitCode(err, &ec) || ec != 1 {
		t.Errorf("err = %v, want exit status 1", err)
	}
	out := stdout.String()
	if strings.Contains(out, token) {
		t.Errorf("output shows the secret:\n%s", out)
	}
	if want := `json $.token: expected "wrong-***", got "***"`; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, "json $.user") {
		t.Errorf("the --var assertion should pass and not be listed:\n%s", out)
	}
}

func runVerify(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd(func(string) string { return "" })
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// checkVerifyGolden compares got with the golden file at path, rewriting
// it first when the tests run with -update. The flag is looked up rather
// than declared: the package's other golden tests share it.
func checkVerifyGolden(t *testing.T, path, got string) {
	t.Helper()
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}
