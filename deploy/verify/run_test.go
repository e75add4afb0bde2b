package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/deploy/verify"
	"github.com/mainline-cd/mainline/deploy/verify/verifytest"
)

// fakeClock is a Clock that moves only when told: handlers advance it to
// simulate latency, and After advances it instead of waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

var _ verify.Clock = (*fakeClock)(nil)

// service is the orders service plus a few endpoints that misbehave on
// purpose.
type service struct {
	*httptest.Server
	orders *verifytest.Orders
	clock  *fakeClock
}

func newService(t *testing.T) *service {
	t.Helper()
	s := &service{orders: &verifytest.Orders{Token: "s3cr3t-t0ken"}, clock: newFakeClock()}
	mux := http.NewServeMux()
	mux.Handle("/", s.orders.Handler())
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Count", "2")
		fmt.Fprint(w, `{"items":[{"status":"open"},{"status":"open"}],"count":2,"name":"Widget","price":9.5,"tags":["a","b"],"big":12345678901234567890,"meta":{"v":1}}`)
	})
	mux.HandleFunc("GET /garbage", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status": "open"`)
	})
	mux.HandleFunc("GET /empty", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until the client gives up
	})
	mux.HandleFunc("GET /latency", func(w http.ResponseWriter, _ *http.Request) {
		s.clock.Advance(600 * time.Millisecond)
		fmt.Fprint(w, `{}`)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func parse(t *testing.T, src string) *verify.Suite {
	t.Helper()
	s, err := verify.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return s
}

func (s *service) run(t *testing.T, suite *verify.Suite, opts verify.RunOptions) *verify.Report {
	t.Helper()
	if opts.Vars == nil {
		opts.Vars = map[string]string{}
	}
	if _, ok := opts.Vars["SERVICE_URL"]; !ok {
		opts.Vars["SERVICE_URL"] = s.URL
	}
	if opts.Clock == nil {
		opts.Clock = s.clock
	}
	if opts.RunID == "" {
		opts.RunID = "run-1"
	}
	return verify.Run(context.Background(), s.Client(), suite, opts)
}

// oneStep is a suite of one step with the given request and expect
// mappings (flow YAML).
func oneStep(request, expect string) string {
	return fmt.Sprintf("base_url: ${SERVICE_URL}\nsteps:\n  - name: s\n    request: %s\n    expect: %s\n", request, expect)
}

func TestAssertions(t *testing.T) {
	srv := newService(t)
	tests := []struct {
		name    string
		request string
		expect  string
		want    verify.Outcome
		checks  []verify.Assertion // every assertion, in order
	}{
		{"status equals", "{path: /health}", "{status: 200}", verify.Passed, []verify.Assertion{
			{What: "status", Expected: "200", Got: "200", Outcome: verify.Passed}}},
		{"status wrong", "{path: /orders/none}", "{status: 200}", verify.Failed, []verify.Assertion{
			{What: "status", Expected: "200", Got: "404", Outcome: verify.Failed}}},
		{"status list", "{path: /orders/none}", "{status: [200, 404]}", verify.Passed, []verify.Assertion{
			{What: "status", Expected: "200 or 404", Got: "404", Outcome: verify.Passed}}},
		{"status defaults to 2xx", "{path: /orders/none}", "{}", verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "404", Outcome: verify.Failed}}},
		{"json equals", "{path: /items}", `{json: {"$.name": Widget, "$.count": 2.0, "$.big": 12345678901234567890, "$.meta": {equals: {v: 1}}, "$.tags": {equals: [a, b]}}}`, verify.Passed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "json $.name", Expected: `"Widget"`, Got: `"Widget"`, Outcome: verify.Passed},
			{What: "json $.count", Expected: "2", Got: "2", Outcome: verify.Passed},
			{What: "json $.big", Expected: "12345678901234567890", Got: "12345678901234567890", Outcome: verify.Passed},
			{What: "json $.meta", Expected: `{"v":1}`, Got: `{"v":1}`, Outcome: verify.Passed},
			{What: "json $.tags", Expected: `["a","b"]`, Got: `["a","b"]`, Outcome: verify.Passed}}},
		{"json equals wrong, every assertion reported", "{path: /items}", `{status: 201, json: {"$.name": Gadget, "$.count": "2", "$.price": 9.5}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "201", Got: "200", Outcome: verify.Failed},
			{What: "json $.name", Expected: `"Gadget"`, Got: `"Widget"`, Outcome: verify.Failed},
			{What: "json $.count", Expected: `"2"`, Got: "2", Outcome: verify.Failed},
			{What: "json $.price", Expected: "9.5", Got: "9.5", Outcome: verify.Passed}}},
		{"json exists", "{path: /items}", `{json: {"$.name": {exists: true}, "$.nope": {exists: false}, "$.gone": {exists: true, not: true}, "$.price": {exists: false}}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "json $.name", Expected: "present", Got: `"Widget"`, Outcome: verify.Passed},
			{What: "json $.nope", Expected: "absent", Got: "nothing", Outcome: verify.Passed},
			{What: "json $.gone", Expected: "absent", Got: "nothing", Outcome: verify.Passed},
			{What: "json $.price", Expected: "absent", Got: "9.5", Outcome: verify.Failed}}},
		{"json matches", "{path: /items}", `{json: {"$.name": {matches: "^Wid"}, "$.count": {matches: "^[0-9]+$"}, "$.tags[0]": {matches: "z", not: true}, "$.meta": {matches: "nope"}}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "json $.name", Expected: "matches /^Wid/", Got: `"Widget"`, Outcome: verify.Passed},
			{What: "json $.count", Expected: "matches /^[0-9]+$/", Got: "2", Outcome: verify.Passed},
			{What: "json $.tags[0]", Expected: "does not match /z/", Got: `"a"`, Outcome: verify.Passed},
			{What: "json $.meta", Expected: "matches /nope/", Got: `{"v":1}`, Outcome: verify.Failed}}},
		{"json ordering", "{path: /items}", `{json: {"$.price": {lt: 10}, "$.count": {lte: 2}, "$.big": {gt: 1000000000000000000}, "$['price']": {gte: 9.6}, "$.name": {lt: 5}}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "json $.price", Expected: "< 10", Got: "9.5", Outcome: verify.Passed},
			{What: "json $.count", Expected: "≤ 2", Got: "2", Outcome: verify.Passed},
			{What: "json $.big", Expected: "> 1e+18", Got: "12345678901234567890", Outcome: verify.Passed},
			{What: "json $['price']", Expected: "≥ 9.6", Got: "9.5", Outcome: verify.Failed},
			{What: "json $.name", Expected: "< 5", Got: `"Widget"`, Outcome: verify.Failed}}},
		{"json not", "{path: /items}", `{json: {"$.name": {equals: Gadget, not: true}, "$.count": {not: true, gt: 5}, "$.missing": {not: true, equals: 1}, "$.price": {not: true, equals: 9.5}}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "json $.name", Expected: `not "Gadget"`, Got: `"Widget"`, Outcome: verify.Passed},
			{What: "json $.count", Expected: "not > 5", Got: "2", Outcome: verify.Passed},
			{What: "json $.missing", Expected: "not 1", Got: "nothing", Outcome: verify.Failed},
			{What: "json $.price", Expected: "not 9.5", Got: "9.5", Outcome: verify.Failed}}},
		{"json every selected node", "{path: /items}", `{json: {"$.items[*].status": open, "$.tags[*]": a}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "json $.items[*].status", Expected: `"open"`, Got: `"open", "open"`, Outcome: verify.Passed},
			{What: "json $.tags[*]", Expected: `"a"`, Got: `"a", "b"`, Outcome: verify.Failed}}},
		{"headers", "{path: /items}", `{headers: {Content-Type: {matches: json}, x-count: {gte: 2}, X-Count: "2", Location: {exists: false}, Etag: abc}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "header Content-Type", Expected: "matches /json/", Got: `"application/json"`, Outcome: verify.Passed},
			{What: "header X-Count", Expected: "≥ 2", Got: `"2"`, Outcome: verify.Passed},
			{What: "header X-Count", Expected: `"2"`, Got: `"2"`, Outcome: verify.Passed},
			{What: "header Location", Expected: "absent", Got: "absent", Outcome: verify.Passed},
			{What: "header Etag", Expected: `"abc"`, Got: "absent", Outcome: verify.Failed}}},
		{"body matches", "{path: /health}", `{body: {matches: "^ok$"}}`, verify.Passed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "body", Expected: "matches /^ok$/", Got: `"ok"`, Outcome: verify.Passed}}},
		{"body does not match", "{path: /health}", `{body: {matches: "^ok$", not: true}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "body", Expected: "does not match /^ok$/", Got: `"ok"`, Outcome: verify.Failed}}},
		{"body equals", "{path: /health}", `{body: ok}`, verify.Passed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "body", Expected: `"ok"`, Got: `"ok"`, Outcome: verify.Passed}}},
		{"latency within", "{path: /latency}", `{max_latency: 1s}`, verify.Passed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "latency", Expected: "≤ 1s", Got: "600ms", Outcome: verify.Passed}}},
		{"latency over", "{path: /latency}", `{max_latency: 500ms}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "latency", Expected: "≤ 500ms", Got: "600ms", Outcome: verify.Failed}}},
		{"unparsable body is an error, even under not", "{path: /garbage}", `{json: {"$.status": open, "$.x": {not: true, exists: true}}}`, verify.Error, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "json $.status", Expected: `"open"`, Got: "body is not JSON: unexpected EOF", Outcome: verify.Error},
			{What: "json $.x", Expected: "absent", Got: "body is not JSON: unexpected EOF", Outcome: verify.Error}}},
		{"empty body is an error", "{path: /empty}", `{json: {"$.x": {not: true, equals: 1}}}`, verify.Error, []verify.Assertion{
			{What: "status", Expected: "2xx", Got: "200", Outcome: verify.Passed},
			{What: "json $.x", Expected: "not 1", Got: "empty body, not JSON", Outcome: verify.Error}}},
		{"failed beats error", "{path: /garbage}", `{status: 500, json: {"$.status": open}}`, verify.Failed, []verify.Assertion{
			{What: "status", Expected: "500", Got: "200", Outcome: verify.Failed},
			{What: "json $.status", Expected: `"open"`, Got: "body is not JSON: unexpected EOF", Outcome: verify.Error}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := srv.run(t, parse(t, oneStep(tt.request, tt.expect)), verify.RunOptions{})
			st := rep.Steps[0]
			if st.Outcome != tt.want || rep.Outcome != tt.want {
				t.Errorf("step outcome %s, run outcome %s; want %s", st.Outcome, rep.Outcome, tt.want)
			}
			if !reflect.DeepEqual(st.Assertions, tt.checks) {
				t.Errorf("assertions:\n got %s\nwant %s", dump(st.Assertions), dump(tt.checks))
			}
		})
	}
}

func dump(as []verify.Assertion) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "\n  %s: expected %s, got %s → %s", a.What, a.Expected, a.Got, a.Outcome)
	}
	return b.String()
}

func TestUnmeasurable(t *testing.T) {
	srv := newService(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name      string
		base      string
		request   string
		wantError string
	}{
		{"connection refused", closed, "{path: /health}", "connection refused"},
		{"timeout", srv.URL, "{path: /slow, timeout: 50ms}", "no response within 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite := parse(t, oneStep(tt.request, `{status: 200, json: {"$.status": {not: true, equals: open}}, max_latency: 1s}`))
			rep := srv.run(t, suite, verify.RunOptions{Vars: map[string]string{"SERVICE_URL": tt.base}})
			st := rep.Steps[0]
			if st.Outcome != verify.Error || rep.Outcome != verify.Error {
				t.Errorf("step outcome %s, run outcome %s; want error for both", st.Outcome, rep.Outcome)
			}
			if !strings.Contains(st.Error, tt.wantError) {
				t.Errorf("step error = %q, want it to contain %q", st.Error, tt.wantError)
			}
			want := []verify.Assertion{
				{What: "status", Expected: "200", Got: "no response", Outcome: verify.Error},
				{What: "json $.status", Expected: `not "open"`, Got: "no response", Outcome: verify.Error},
				{What: "latency", Expected: "≤ 1s", Got: "no response", Outcome: verify.Error},
			}
			if !reflect.DeepEqual(st.Assertions, want) {
				t.Errorf("assertions:\n got %s\nwant %s", dump(st.Assertions), dump(want))
			}
			if st.Response != nil {
				t.Errorf("response recorded without a response: %+v", st.Response)
			}
		})
	}
}

func TestOrdersSuite(t *testing.T) {
	srv := newService(t)
	data, err := os.ReadFile("testdata/orders.yaml")
	if err != nil {
		t.Fatal(err)
	}
	suite, err := verify.Parse("orders.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	start := srv.clock.Now()
	rep := srv.run(t, suite, verify.RunOptions{RunID: "run-42"})
	if rep.Outcome != verify.Passed {
		b, _ := json.MarshalIndent(rep, "", "  ")
		t.Fatalf("outcome %s, want passed; report:\n%s", rep.Outcome, b)
	}

	// The capture chain: order_id and order_url from step 1 are used by
	// steps 2, 3 and 5.
	var paths []string
	for _, s := range srv.orders.Seen() {
		paths = append(paths, s.Method+" "+s.Path)
		if got := s.Header.Get("Mainline-Synthetic"); got != "1" {
			t.Errorf("%s %s: Mainline-Synthetic = %q, want 1", s.Method, s.Path, got)
		}
		if got := s.Header.Get("Mainline-Run-Id"); got != "run-42" {
			t.Errorf("%s %s: Mainline-Run-Id = %q, want run-42", s.Method, s.Path, got)
		}
	}
	want := []string{"POST /orders", "GET /orders/o-1", "GET /orders/o-1/state", "GET /orders/o-1/state", "GET /orders/o-1/state", "GET /health", "DELETE /orders/o-1"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("requests:\n got %q\nwant %q", paths, want)
	}
	if got := rep.Steps[0].Captured; !reflect.DeepEqual(got, map[string]string{"order_id": "o-1", "order_url": "/orders/o-1"}) {
		t.Errorf("captured = %v", got)
	}
	if a := rep.Steps[1].Assertions[1]; a.What != "json $.id" || a.Expected != `"o-1"` || a.Outcome != verify.Passed {
		t.Errorf("expanded equality = %+v, want json $.id = \"o-1\" passed", a)
	}

	// Polling: the state is "processed" on the third read.
	poll := rep.Steps[2]
	if poll.Attempts != 3 || poll.Outcome != verify.Passed {
		t.Errorf("poll step: %d attempts, %s; want 3, passed", poll.Attempts, poll.Outcome)
	}
	if waited := srv.clock.Now().Sub(start); waited != 20*time.Millisecond {
		t.Errorf("clock advanced %s by retries, want 2 × 10ms", waited)
	}
	if srv.orders.Count() != 0 {
		t.Errorf("%d orders left after the clean-up step", srv.orders.Count())
	}

	// The report is plain data: it survives a round trip through JSON.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back verify.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rep) {
		t.Errorf("report changed in a JSON round trip:\n got %+v\nwant %+v", back, *rep)
	}
	req := rep.Steps[0].Request
	if req.Method != "POST" || req.URL != srv.URL+"/orders" || req.Body != `{"sku":"test-1"}` || req.Headers.Get("Content-Type") != "application/json" {
		t.Errorf("request record = %+v", req)
	}
	if res := rep.Steps[0].Response; res.Status != 201 || !strings.Contains(res.Body, `"id":"o-1"`) || res.Headers.Get("Location") != "/orders/o-1" {
		t.Errorf("response record = %+v", res)
	}
}

func TestRetriesExhausted(t *testing.T) {
	srv := newService(t)
	suite := parse(t, `base_url: ${SERVICE_URL}
steps:
  - name: poll
    request: {path: /health}
    retries: {attempts: 4, interval: 1s}
    expect: {body: never}
`)
	start := srv.clock.Now()
	rep := srv.run(t, suite, verify.RunOptions{})
	if st := rep.Steps[0]; st.Attempts != 4 || st.Outcome != verify.Failed {
		t.Errorf("poll: %d attempts, %s; want 4, failed", st.Attempts, st.Outcome)
	}
	if n := len(srv.orders.Seen()); n != 4 {
		t.Errorf("service saw %d requests, want 4", n)
	}
	if waited := srv.clock.Now().Sub(start); waited != 3*time.Second {
		t.Errorf("waited %s between attempts, want 3 × 1s", waited)
	}
}

// TestCleanupAfterFailedCreate: the step that creates a test order fails
// an assertion, but its id could be read, so the always clean-up cancels
// the order instead of leaving it in production.
func TestCleanupAfterFailedCreate(t *testing.T) {
	srv := newService(t)
	suite := parse(t, `base_url: ${SERVICE_URL}
steps:
  - name: create
    request: {method: POST, path: /orders, json: {sku: x}}
    expect: {status: 201, json: {"$.status": not-what-it-says}}
    capture: {id: $.id}
  - name: cancel
    always: true
    request: {method: DELETE, path: "/orders/${id}"}
    expect: {status: 204}
`)
	rep := srv.run(t, suite, verify.RunOptions{})
	var got []string
	for _, s := range rep.Steps {
		got = append(got, s.Name+": "+string(s.Outcome))
	}
	if want := []string{"create: failed", "cancel: passed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("steps = %q, want %q", got, want)
	}
	if n := srv.orders.Count(); n != 0 {
		t.Errorf("%d test orders left behind, want the clean-up to cancel it", n)
	}
}

func TestAlwaysRunsAfterFailure(t *testing.T) {
	srv := newService(t)
	srv.orders.Status = "closed" // the release under test answers wrongly
	suite := parse(t, `base_url: ${SERVICE_URL}
steps:
  - name: create
    request: {method: POST, path: /orders, json: {sku: x}}
    expect: {status: 201}
    capture: {id: $.id}
  - name: check
    request: {path: "/orders/${id}"}
    expect: {json: {"$.status": open, "$.sku": x}}
  - name: next
    request: {path: /health}
  - name: cancel
    always: true
    request: {method: DELETE, path: "/orders/${id}"}
    expect: {status: 204}
  - name: cancel something never captured
    always: true
    request: {method: DELETE, path: "/orders/${later}"}
  - name: capture later
    request: {path: /health}
    capture: {later: "header:Content-Type"}
`)
	rep := srv.run(t, suite, verify.RunOptions{})
	var got []string
	for _, s := range rep.Steps {
		got = append(got, s.Name+": "+string(s.Outcome))
	}
	want := []string{"create: passed", "check: failed", "next: skipped", "cancel: passed", "cancel something never captured: skipped", "capture later: skipped"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("steps:\n got %q\nwant %q", got, want)
	}
	if rep.Outcome != verify.Failed {
		t.Errorf("outcome %s, want failed", rep.Outcome)
	}
	if srv.orders.Count() != 0 {
		t.Errorf("the always step did not clean up: %d orders left", srv.orders.Count())
	}
	if n := rep.Steps[2].Note; n != `step "check" did not pass` {
		t.Errorf("skip note = %q", n)
	}
	step, a, ok := rep.Failure()
	if !ok || step != "check" || a != (verify.Assertion{What: "json $.status", Expected: `"open"`, Got: `"closed"`, Outcome: verify.Failed}) {
		t.Errorf("Failure() = %q, %+v, %v; want check, json $.status expected \"open\" got \"closed\"", step, a, ok)
	}
}

func TestSecretsMasked(t *testing.T) {
	srv := newService(t)
	data, err := os.ReadFile("testdata/secrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	suite, err := verify.Parse("secrets.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	const token = "s3cr3t-t0ken"
	var logs bytes.Buffer
	rep := srv.run(t, suite, verify.RunOptions{
		Getenv: func(name string) (string, bool) { return token, name == "TOKEN" },
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if rep.Outcome != verify.Passed {
		b, _ := json.MarshalIndent(rep, "", "  ")
		t.Fatalf("outcome %s, want passed:\n%s", rep.Outcome, b)
	}
	// The service did receive the secret…
	if got := srv.orders.Seen()[0].Header.Get("Authorization"); got != "Bearer "+token {
		t.Fatalf("service got Authorization %q", got)
	}
	// …and it appears nowhere in the report or the logs, though the service
	// echoed it in its body and in a header.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"report": string(b), "logs": logs.String()} {
		if strings.Contains(text, token) {
			t.Errorf("%s contains the secret:\n%s", what, text)
		}
	}
	first := rep.Steps[0]
	if got := first.Request.Headers.Get("Authorization"); got != "***" {
		t.Errorf("recorded Authorization = %q, want ***", got)
	}
	if got := first.Request.URL; got != srv.URL+"/whoami?key=***" {
		t.Errorf("recorded URL = %q, want the key masked", got)
	}
	if !strings.Contains(first.Response.Body, `"token":"***"`) {
		t.Errorf("echoed token not masked in body %q", first.Response.Body)
	}
	// session came from X-Session and is sent as X-Api-Key, a redacted
	// header, so it is a secret too.
	if got := first.Captured["session"]; got != "***" {
		t.Errorf("captured session shown as %q, want ***", got)
	}
	if got := rep.Steps[1].Request.Headers.Get("X-Api-Key"); got != "***" {
		t.Errorf("recorded X-Api-Key = %q, want ***", got)
	}
	if strings.Contains(string(b), "s-"+token[:4]) {
		t.Errorf("report shows the session value:\n%s", b)
	}
}

func TestSecretMaskedInErrors(t *testing.T) {
	suite := parse(t, `base_url: "http://127.0.0.1:1/${env:KEY}"
steps:
  - name: s
    request: {path: /x}
`)
	var logs bytes.Buffer
	rep := verify.Run(context.Background(), nil, suite, verify.RunOptions{
		Getenv: func(string) (string, bool) { return "hunter2", true },
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	b, _ := json.Marshal(rep)
	if st := rep.Steps[0]; rep.Outcome != verify.Error || !strings.Contains(st.Error, "connection refused") || st.Request.URL != "http://127.0.0.1:1/***/x" {
		t.Errorf("outcome %s, error %q, URL %q; want error, connection refused, http://127.0.0.1:1/***/x", rep.Outcome, st.Error, st.Request.URL)
	}
	if strings.Contains(string(b), "hunter2") || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("secret leaked:\n%s\n%s", b, logs.String())
	}
}

func TestVariableErrors(t *testing.T) {
	srv := newService(t)
	tests := []struct {
		name, path, want string
	}{
		{"unset env", "/x/${env:MISSING}", "path: environment variable MISSING is not set"},
		{"undefined", "/x/${nope}", "path: undefined variable ${nope}"},
		{"captured later", "/x/${later}", `path: ${later} was not captured: step "b" did not capture it before this one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite := parse(t, fmt.Sprintf(`base_url: ${SERVICE_URL}
steps:
  - name: a
    request: {path: "%s"}
  - name: b
    request: {path: /health}
    capture: {later: "header:Content-Type"}
`, tt.path))
			rep := srv.run(t, suite, verify.RunOptions{})
			if st := rep.Steps[0]; st.Outcome != verify.Error || st.Error != tt.want {
				t.Errorf("step: %s %q; want error %q", st.Outcome, st.Error, tt.want)
			}
			if rep.Outcome != verify.Error {
				t.Errorf("run outcome %s, want error", rep.Outcome)
			}
		})
	}
}

func TestUnusableBaseURL(t *testing.T) {
	tests := []struct {
		name, base string
		getenv     func(string) (string, bool)
		wantError  string
	}{
		{"unset variable", "${SERVICE_URL}", nil, "base_url: undefined variable ${SERVICE_URL}"},
		{"unset env", "${env:HOST}", nil, "base_url: environment variable HOST is not set"},
		{"secret not a URL", "${env:HOST}", func(string) (string, bool) { return "hunter2", true }, `base_url: want an absolute http or https URL, got "***"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite := parse(t, fmt.Sprintf("base_url: %q\nsteps:\n  - {name: a, request: {path: /}}\n  - {name: b, always: true, request: {path: /}}\n", tt.base))
			rep := verify.Run(context.Background(), nil, suite, verify.RunOptions{Getenv: tt.getenv, Clock: newFakeClock()})
			if rep.Outcome != verify.Error || rep.Error != tt.wantError {
				t.Errorf("outcome %s, error %q; want error %q", rep.Outcome, rep.Error, tt.wantError)
			}
			for _, s := range rep.Steps {
				if s.Outcome != verify.Skipped {
					t.Errorf("step %s: %s, want skipped", s.Name, s.Outcome)
				}
			}
		})
	}
}
