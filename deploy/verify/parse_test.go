package verify

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseBadSuites(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"unknown-top.yaml", `unknown-top.yaml:2:1: on_fail: unknown field; want one of base_url, schedule, on_failure, failure_budget, error_budget, redact, steps`},
		{"unknown-expect.yaml", `unknown-expect.yaml:6:7: steps[0].expect.stauts: unknown field; want one of status, json, headers, body, max_latency`},
		{"unknown-matcher.yaml", `unknown-matcher.yaml:7:23: steps[0].expect.json["$.status"].equal: unknown matcher; want one of equals, exists, matches, lt, lte, gt, gte, not`},
		{"two-ops.yaml", `two-ops.yaml:7:25: steps[0].expect.json["$.n"].lt: a matcher makes one comparison; gt is already given`},
		{"no-op.yaml", `no-op.yaml:7:16: steps[0].expect.json["$.n"]: matcher needs one of equals, exists, matches, lt, lte, gt, gte`},
		{"plain-list-matcher.yaml", `plain-list-matcher.yaml:7:19: steps[0].expect.json["$.tags"]: want a value or a matcher such as {equals: [...]}, got a list`},
		{"bad-lt.yaml", `bad-lt.yaml:7:26: steps[0].expect.json["$.total"].lt: want a number, got "ten"`},
		{"bad-exists.yaml", `bad-exists.yaml:7:29: steps[0].expect.headers.Location.exists: want true or false, got "yes please"`},
		{"bad-regex.yaml", "bad-regex.yaml:6:24: steps[0].expect.body.matches: bad regular expression: error parsing regexp: missing closing ): `ok(`"},
		{"bad-jsonpath.yaml", `bad-jsonpath.yaml:7:9: steps[0].expect.json["status"]: bad JSONPath: jsonpath: unexpected identifier at position 1`},
		{"bad-status.yaml", `bad-status.yaml:5:29: steps[0].expect.status[1]: must be between 100 and 599, got 1000`},
		{"status-string.yaml", `status-string.yaml:5:23: steps[0].expect.status: want an integer, got "ok"`},
		{"bad-schedule.yaml", `bad-schedule.yaml:2:11: schedule: want 5 cron fields (minute hour day-of-month month day-of-week), got 4 in "*/5 * * *"`},
		{"bad-cron-range.yaml", `bad-cron-range.yaml:2:11: schedule: bad cron expression "61 * * * *": end of range (61) above maximum (59): 61`},
		{"bad-on-failure.yaml", `bad-on-failure.yaml:2:13: on_failure: want rollback or alert, got "panic"`},
		{"bad-duration.yaml", `bad-duration.yaml:4:40: steps[0].request.timeout: want a duration such as "500ms" or "10s", got 10`},
		{"bad-method.yaml", `bad-method.yaml:4:24: steps[0].request.method: unknown method "FETCH"; want one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		{"bad-path.yaml", `bad-path.yaml:4:22: steps[0].request.path: must start with / (or a variable holding a path), got "health"`},
		{"missing-name.yaml", `missing-name.yaml:3:5: steps[0].name: required`},
		{"missing-base.yaml", `missing-base.yaml:1:1: base_url: required`},
		{"no-steps.yaml", `no-steps.yaml:2:8: steps: want at least one step`},
		{"dup-step.yaml", `dup-step.yaml:5:5: steps[1].name: duplicate step name "health" (also steps[0])`},
		{"json-and-body.yaml", `json-and-body.yaml:8:7: steps[0].request.body: json and body cannot both be set`},
		{"bad-capture.yaml", `bad-capture.yaml:5:26: steps[0].capture.order_id: want "$.path" or "header:Name", got "id"`},
		{"unterminated-var.yaml", `unterminated-var.yaml:4:22: steps[0].request.path: unterminated "${"`},
		{"synthetic-header.yaml", `synthetic-header.yaml:6:18: steps[0].request.headers.Mainline-Synthetic: is set by Mainline on every request`},
		{"bad-retries.yaml", "bad-retries.yaml:5:26: steps[0].retries.attempts: must be between 1 and 1000, got 0\n" +
			"bad-retries.yaml:5:29: steps[0].retries.every: unknown field; want one of attempts, interval"},
		{"anchors.yaml", `anchors.yaml:4:14: YAML anchors and aliases are not supported in a suite`},
		{"yaml-syntax.yaml", `yaml-syntax.yaml:4:14: could not find flow mapping end token '}'`},
		{"empty.yaml", `empty.yaml:1:1: empty suite`},
		{"several.yaml", "several.yaml:1:11: base_url: want an absolute http or https URL, got \"ftp://example.com\"\n" +
			"several.yaml:2:17: failure_budget: must be between 1 and 1000, got 0\n" +
			"several.yaml:5:40: steps[0].request.timeout: must be more than 0 and at most 24h, got -1s\n" +
			"several.yaml:6:28: steps[0].expect.max_latency: want a duration such as \"500ms\" or \"10s\", got \"fast\""},
	}
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata/bad holds %d files, the table %d; every bad file needs its message here", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/bad", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(tt.file, data)
			if err == nil {
				t.Fatalf("Parse = %+v, nil; want error %q", s, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse error:\n got %s\nwant %s", got, tt.want)
			}
			var pes ParseErrors
			if !errors.As(err, &pes) || len(pes) == 0 || pes[0].Line < 1 || pes[0].Column < 1 {
				t.Errorf("Parse error %#v: want a ParseErrors with positions", err)
			}
		})
	}
}

func TestParseOrders(t *testing.T) {
	data, err := os.ReadFile("testdata/orders.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("orders.yaml", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s.BaseURL != "${SERVICE_URL}" || s.Schedule != "*/5 * * * *" || s.OnFailure != Rollback ||
		s.FailureBudget != 2 || s.ErrorBudget != DefaultErrorBudget {
		t.Errorf("suite header = %q %q %q %d %d; want ${SERVICE_URL} */5 * * * * rollback 2 3",
			s.BaseURL, s.Schedule, s.OnFailure, s.FailureBudget, s.ErrorBudget)
	}
	var names []string
	for _, st := range s.Steps {
		names = append(names, st.Name)
	}
	if want := []string{"create order", "read order", "wait until processed", "health", "cancel order"}; !reflect.DeepEqual(names, want) {
		t.Errorf("steps = %q, want %q", names, want)
	}
	create := s.Steps[0]
	if got, want := string(create.Request.JSON), `{"sku":"test-1"}`; got != want {
		t.Errorf("create json = %s, want %s", got, want)
	}
	if create.Request.Method != "POST" || create.Request.Timeout != DefaultTimeout || create.Retries != (Retries{1, DefaultRetryInterval}) {
		t.Errorf("create request = %s timeout %s retries %+v; want POST, 10s, {1 1s}", create.Request.Method, create.Request.Timeout, create.Retries)
	}
	if got := create.Expect.JSON[2]; got.Path != "$.total" || got.Match.Op != Less || got.Match.Value != 100.0 {
		t.Errorf("third json assertion = %s %s %v, want $.total lt 100", got.Path, got.Match.Op, got.Match.Value)
	}
	if got := create.Expect.JSON[1].Match.Value; got != "test-1" {
		t.Errorf("plain scalar matcher value = %#v, want equals \"test-1\"", got)
	}
	if got := []string{create.Captures[0].Name, create.Captures[1].From}; !reflect.DeepEqual(got, []string{"order_id", "header:Location"}) {
		t.Errorf("captures = %q", got)
	}
	if got := s.Steps[1].Expect.Status; !reflect.DeepEqual(got, []int{200}) {
		t.Errorf("read order status = %v, want [200]", got)
	}
	if r := s.Steps[2].Retries; r.Attempts != 5 || r.Interval != 10*time.Millisecond {
		t.Errorf("retries = %+v, want 5 × 10ms", r)
	}
	if !s.Steps[4].Always || s.Steps[3].Always {
		t.Errorf("always = %v, %v; want only the last step", s.Steps[3].Always, s.Steps[4].Always)
	}
}

func TestParseJSONBodyKeepsOrderAndTypes(t *testing.T) {
	src := `base_url: http://127.0.0.1:1
steps:
  - name: s
    request:
      method: put
      path: /x
      json: {z: 1, a: [true, null, 2.5, "<b>"], m: {k: "${v}"}, big: 18446744073709551615}
    expect:
      json:
        "$.a": {equals: [true, null, 2.5, "<b>"]}
        "$.n": {not: true, gte: -3}
`
	s, err := Parse("inline.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Steps[0].Request
	if r.Method != "PUT" {
		t.Errorf("method = %q, want PUT", r.Method)
	}
	if got, want := string(r.JSON), `{"z":1,"a":[true,null,2.5,"<b>"],"m":{"k":"${v}"},"big":18446744073709551615}`; got != want {
		t.Errorf("json body = %s\nwant %s", got, want)
	}
	eq := s.Steps[0].Expect.JSON[0].Match
	if want := []any{true, nil, json.Number("2.5"), "<b>"}; !reflect.DeepEqual(eq.Value, want) {
		t.Errorf("equals operand = %#v, want %#v", eq.Value, want)
	}
	if m := s.Steps[0].Expect.JSON[1].Match; !m.Not || m.Op != GreatEq || m.Value != -3.0 {
		t.Errorf("matcher = %+v, want not gte -3", m)
	}
}

func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/*.yaml", "testdata/bad/*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			var pes ParseErrors
			if !errors.As(err, &pes) || len(pes) == 0 {
				t.Fatalf("error %v is not a non-empty ParseErrors", err)
			}
			for _, pe := range pes {
				if pe.Line < 1 || pe.Column < 1 || !strings.HasPrefix(pe.Error(), "fuzz.yaml:") {
					t.Fatalf("error %q has no position", pe)
				}
			}
			return
		}
		// A suite that parses is runnable: defaults filled, every step
		// named and addressed.
		if s.BaseURL == "" || len(s.Steps) == 0 || s.FailureBudget < 1 || s.ErrorBudget < 1 {
			t.Fatalf("parsed suite missing defaults: %+v", s)
		}
		for _, st := range s.Steps {
			if st.Name == "" || !strings.HasPrefix(st.Request.Path, "/") && !strings.HasPrefix(st.Request.Path, "${") || st.Request.Timeout <= 0 || st.Retries.Attempts < 1 {
				t.Fatalf("parsed step not runnable: %+v", st)
			}
			if st.Request.JSON != nil && !json.Valid(st.Request.JSON) {
				t.Fatalf("step %q json body is not JSON: %s", st.Name, st.Request.JSON)
			}
		}
	})
}
