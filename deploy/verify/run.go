package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Clock is the time source of a run: latencies are measured with Now and
// retries wait on After, so tests can drive both without sleeping.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

var _ Clock = systemClock{}

// RunOptions are the inputs of a run besides the suite.
type RunOptions struct {
	// Vars are the variables a suite starts with, e.g. SERVICE_URL.
	Vars map[string]string
	// Getenv resolves ${env:NAME}. Values found through it are secrets:
	// they are masked in the report and in log lines. Nil resolves nothing.
	Getenv func(string) (string, bool)
	// RunID is sent as the Mainline-Run-Id header; a random one when empty.
	RunID  string
	Clock  Clock        // the system clock when nil
	Logger *slog.Logger // one line per step and one per run; none when nil
}

// maxBody bounds how much of a response body is read and checked; a body
// beyond it makes body and JSON assertions errors.
const maxBody = 10 << 20

// Run runs suite against the service and reports every step. It never
// returns an error: what goes wrong is in the report, as Error outcomes.
//
// Steps run in order. After a step fails or errors, the remaining steps are
// skipped except those marked always. Every request carries
// Mainline-Synthetic: 1 and Mainline-Run-Id. A nil client is one that does
// not follow redirects, so that a suite can assert a 3xx.
func Run(ctx context.Context, client *http.Client, suite *Suite, opts RunOptions) *Report {
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	r := &runner{
		client: client,
		suite:  suite,
		clock:  opts.Clock,
		log:    opts.Logger,
		runID:  opts.RunID,
		vars:   map[string]string{},
		env:    map[string]string{},
	}
	if r.clock == nil {
		r.clock = systemClock{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.runID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails
		r.runID = hex.EncodeToString(b[:])
	}
	for k, v := range opts.Vars {
		r.vars[k] = v
	}
	r.prepare(opts.Getenv)
	return r.run(ctx)
}

type runner struct {
	client *http.Client
	suite  *Suite
	clock  Clock
	log    *slog.Logger
	runID  string

	vars     map[string]string // RunOptions.Vars, then captures
	env      map[string]string // ${env:…} values found, all secret
	declared map[string]string // capture name → the step that declares it
	secret   map[string]bool   // captures whose values are secret
	mask     masker
	base     string
	failed   string // first step that did not pass
}

// prepare resolves every ${env:…} the suite uses before anything is sent,
// so that a secret is masked even where it shows up before its own step,
// and works out which captures are secrets: those read from, or sent in,
// a redacted header.
func (r *runner) prepare(getenv func(string) (string, bool)) {
	r.declared = map[string]string{}
	r.secret = map[string]bool{}
	var all []string
	addRefs := func(s string) {
		rs, _ := refs(s)
		all = append(all, rs...)
	}
	addRefs(r.suite.BaseURL)
	for _, st := range r.suite.Steps {
		q := st.Request
		addRefs(q.Path)
		addRefs(q.Body)
		for _, v := range q.Query {
			addRefs(v)
		}
		for name, v := range q.Headers {
			addRefs(v)
			if r.suite.redacts(name) {
				rs, _ := refs(v)
				for _, ref := range rs {
					r.secret[ref] = true
				}
			}
		}
		if q.JSON != nil {
			_, _ = expandJSON(q.JSON, func(s string) (string, error) { addRefs(s); return s, nil })
		}
		for _, a := range st.Expect.JSON {
			_, _ = expandValue(a.Match.Value, func(s string) (string, error) { addRefs(s); return s, nil })
		}
		for _, a := range st.Expect.Headers {
			if s, ok := a.Match.Value.(string); ok {
				addRefs(s)
			}
		}
		if b := st.Expect.Body; b != nil {
			if s, ok := b.Value.(string); ok {
				addRefs(s)
			}
		}
		for _, c := range st.Captures {
			if _, ok := r.declared[c.Name]; !ok {
				r.declared[c.Name] = st.Name
			}
			if c.header != "" && r.suite.redacts(c.header) {
				r.secret[c.Name] = true
			}
		}
	}
	for _, ref := range all {
		name, ok := strings.CutPrefix(ref, envPrefix)
		if !ok || getenv == nil {
			continue
		}
		if v, found := getenv(name); found {
			r.env[name] = v
			r.mask.add(v)
		}
	}
}

// errNotCaptured is a reference to a capture whose step has not captured
// it (it failed, was skipped, or comes later).
type errNotCaptured struct{ name, step string }

func (e *errNotCaptured) Error() string {
	return fmt.Sprintf("${%s} was not captured: step %q did not capture it before this one", e.name, e.step)
}

func (r *runner) lookup(ref string) (string, error) {
	if name, ok := strings.CutPrefix(ref, envPrefix); ok {
		if v, found := r.env[name]; found {
			return v, nil
		}
		return "", fmt.Errorf("environment variable %s is not set", name)
	}
	if v, ok := r.vars[ref]; ok {
		return v, nil
	}
	if st, ok := r.declared[ref]; ok {
		return "", &errNotCaptured{ref, st}
	}
	return "", fmt.Errorf("undefined variable ${%s}", ref)
}

func (r *runner) run(ctx context.Context) *Report {
	rep := &Report{RunID: r.runID, Suite: r.suite.File, StartedAt: r.clock.Now()}
	base, err := r.baseURL()
	if err != nil {
		rep.Error = r.mask.mask(fmt.Sprintf("base_url: %v", err))
		rep.Outcome = Error
		for _, st := range r.suite.Steps {
			rep.Steps = append(rep.Steps, StepReport{Name: st.Name, Always: st.Always, Outcome: Skipped, Note: "base_url unusable"})
		}
		rep.Duration = r.clock.Now().Sub(rep.StartedAt)
		r.log.LogAttrs(ctx, slog.LevelWarn, "verify run", slog.String("run_id", r.runID), slog.String("suite", r.suite.File),
			slog.String("outcome", string(rep.Outcome)), slog.String("error", rep.Error))
		return rep
	}
	r.base = base
	rep.BaseURL = r.mask.mask(base)

	for _, st := range r.suite.Steps {
		var sr StepReport
		if r.failed != "" && !st.Always {
			sr = StepReport{Name: st.Name, Outcome: Skipped, Note: fmt.Sprintf("step %q did not pass", r.failed)}
		} else {
			sr = r.step(ctx, st)
		}
		if r.failed == "" && (sr.Outcome == Failed || sr.Outcome == Error) {
			r.failed = st.Name
		}
		attrs := []slog.Attr{
			slog.String("run_id", r.runID), slog.String("suite", r.suite.File), slog.String("step", st.Name),
			slog.String("outcome", string(sr.Outcome)), slog.Int("attempts", sr.Attempts),
		}
		if sr.Response != nil {
			attrs = append(attrs, slog.Int("status", sr.Response.Status), slog.Duration("latency", sr.Response.Latency))
		}
		if sr.Error != "" {
			attrs = append(attrs, slog.String("error", sr.Error))
		}
		r.log.LogAttrs(ctx, slog.LevelInfo, "verify step", attrs...)
		rep.Steps = append(rep.Steps, sr)
	}

	rep.Outcome = Passed
	for _, s := range rep.Steps {
		switch {
		case s.Outcome == Failed:
			rep.Outcome = Failed
		case s.Outcome == Error && rep.Outcome == Passed:
			rep.Outcome = Error
		}
	}
	rep.Duration = r.clock.Now().Sub(rep.StartedAt)
	r.log.LogAttrs(ctx, slog.LevelInfo, "verify run", slog.String("run_id", r.runID), slog.String("suite", r.suite.File),
		slog.String("outcome", string(rep.Outcome)), slog.Duration("duration", rep.Duration))
	return rep
}

func (r *runner) baseURL() (string, error) {
	base, err := expand(r.suite.BaseURL, r.lookup)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("want an absolute http or https URL, got %q", base)
	}
	return strings.TrimSuffix(base, "/"), nil
}

// step runs st, again and again per its retries until it passes.
func (r *runner) step(ctx context.Context, st *Step) StepReport {
	var sr StepReport
	for attempt := 1; ; attempt++ {
		sr = r.attempt(ctx, st)
		sr.Attempts = attempt
		if sr.Outcome == Passed || sr.Outcome == Skipped || attempt >= st.Retries.Attempts {
			return sr
		}
		select {
		case <-ctx.Done():
			return sr
		case <-r.clock.After(st.Retries.Interval):
		}
	}
}

// response is what came back from one attempt; err is set when nothing
// usable did.
type response struct {
	status  int
	header  http.Header
	body    []byte
	latency time.Duration
	err     error // no response at all
	bodyErr error // a response, but its body could not be read
}

func (r *runner) attempt(ctx context.Context, st *Step) StepReport {
	sr := StepReport{Name: st.Name, Always: st.Always}
	req, body, err := r.request(ctx, st)
	if err != nil {
		var nc *errNotCaptured
		if errors.As(err, &nc) && r.failed != "" {
			sr.Outcome, sr.Note = Skipped, fmt.Sprintf("needs ${%s} from step %q", nc.name, nc.step)
			return sr
		}
		sr.Outcome, sr.Error = Error, r.mask.mask(err.Error())
		return sr
	}
	ctx, cancel := context.WithTimeout(ctx, st.Request.Timeout)
	defer cancel()
	req = req.WithContext(ctx)

	var res response
	start := r.clock.Now()
	hres, err := r.client.Do(req)
	if err != nil {
		res.err = describeErr(err, st.Request.Timeout)
	} else {
		res.status, res.header = hres.StatusCode, hres.Header
		res.body, err = io.ReadAll(io.LimitReader(hres.Body, maxBody+1))
		hres.Body.Close()
		switch {
		case err != nil:
			res.bodyErr = describeErr(err, st.Request.Timeout)
		case len(res.body) > maxBody:
			res.bodyErr = fmt.Errorf("response body larger than %d bytes", maxBody)
		}
	}
	res.latency = r.clock.Now().Sub(start)

	sr.Assertions, sr.Captured = r.check(st, &res)
	sr.Outcome = Passed
	for _, a := range sr.Assertions {
		switch {
		case a.Outcome == Failed:
			sr.Outcome = Failed
		case a.Outcome == Error && sr.Outcome == Passed:
			sr.Outcome = Error
		}
	}
	if res.err != nil {
		sr.Error = r.mask.mask(res.err.Error())
		if sr.Outcome == Passed {
			sr.Outcome = Error
		}
	} else if res.bodyErr != nil {
		sr.Error = r.mask.mask(res.bodyErr.Error())
		if sr.Outcome == Passed {
			sr.Outcome = Error
		}
	}

	// A capture that could be read becomes a variable even when the step
	// failed: after a failure only always-steps run, and they are the
	// clean-up that needs it (a test order that was created with the wrong
	// status must still be cancelled). The record is made after captures
	// are known, so that a secret capture is masked in the very response it
	// came from.
	for k, v := range sr.Captured {
		r.vars[k] = v
	}
	for k, v := range sr.Captured {
		if r.secret[k] {
			sr.Captured[k] = Mask
		} else {
			sr.Captured[k] = r.mask.mask(v)
		}
	}
	if len(sr.Captured) == 0 {
		sr.Captured = nil
	}
	for i := range sr.Assertions {
		a := &sr.Assertions[i]
		a.Expected, a.Got = r.mask.mask(a.Expected), r.mask.mask(a.Got)
	}
	rec := &RequestRecord{Method: req.Method, URL: r.mask.mask(req.URL.String()), Headers: r.mask.headers(req.Header, r.suite.redacts)}
	if req.Host != "" && req.Host != req.URL.Host {
		rec.Headers.Set("Host", r.mask.mask(req.Host))
	}
	rec.Body, rec.BodyTruncated = r.mask.body(body)
	sr.Request = rec
	if res.err == nil {
		out := &ResponseRecord{Status: res.status, Headers: r.mask.headers(res.header, r.suite.redacts), Latency: res.latency}
		out.Body, out.BodyTruncated = r.mask.body(res.body)
		sr.Response = out
	}
	return sr
}

// request builds a step's request with its variables expanded.
func (r *runner) request(ctx context.Context, st *Step) (*http.Request, []byte, error) {
	q := st.Request
	path, err := expand(q.Path, r.lookup)
	if err != nil {
		return nil, nil, fmt.Errorf("path: %w", err)
	}
	if !strings.HasPrefix(path, "/") {
		return nil, nil, fmt.Errorf("path %q does not start with /", path)
	}
	u, err := url.Parse(r.base + path)
	if err != nil {
		return nil, nil, fmt.Errorf("url: %w", err)
	}
	if len(q.Query) > 0 {
		vals := u.Query()
		for k, v := range q.Query {
			x, err := expand(v, r.lookup)
			if err != nil {
				return nil, nil, fmt.Errorf("query %s: %w", k, err)
			}
			vals.Set(k, x)
		}
		u.RawQuery = vals.Encode()
	}
	var body []byte
	switch {
	case q.JSON != nil:
		body, err = expandJSON(q.JSON, func(s string) (string, error) { return expand(s, r.lookup) })
	case q.Body != "":
		var s string
		s, err = expand(q.Body, r.lookup)
		body = []byte(s)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, q.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("request: %w", err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("User-Agent", "mainline-verify")
	if q.JSON != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range q.Headers {
		x, err := expand(v, r.lookup)
		if err != nil {
			return nil, nil, fmt.Errorf("header %s: %w", k, err)
		}
		if k == "Host" {
			req.Host = x
			continue
		}
		req.Header.Set(k, x)
	}
	req.Header.Set(SyntheticHeader, "1")
	req.Header.Set(RunIDHeader, r.runID)
	return req, body, nil
}

// describeErr turns a transport error into a short message; a timeout says
// so plainly rather than as a wrapped context error.
func describeErr(err error, timeout time.Duration) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("no response within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// check evaluates every assertion of st against res, and its captures.
func (r *runner) check(st *Step, res *response) ([]Assertion, map[string]string) {
	var out []Assertion
	noResponse := func(what, expected string) Assertion {
		return Assertion{What: what, Expected: expected, Got: "no response", Outcome: Error}
	}
	expandAll := func(v any) (any, error) {
		return expandValue(v, func(s string) (string, error) { return expand(s, r.lookup) })
	}

	// status
	want := "2xx"
	if len(st.Expect.Status) > 0 {
		parts := make([]string, len(st.Expect.Status))
		for i, s := range st.Expect.Status {
			parts[i] = strconv.Itoa(s)
		}
		want = strings.Join(parts, " or ")
	}
	if res.err != nil {
		out = append(out, noResponse("status", want))
	} else {
		ok := res.status >= 200 && res.status <= 299
		if len(st.Expect.Status) > 0 {
			ok = false
			for _, s := range st.Expect.Status {
				ok = ok || s == res.status
			}
		}
		out = append(out, Assertion{What: "status", Expected: want, Got: strconv.Itoa(res.status), Outcome: outcome(ok)})
	}

	// JSON, decoded once and only when asked for.
	var doc any
	var docErr error
	decoded := false
	parsed := func() (any, error) {
		if !decoded {
			decoded = true
			switch {
			case res.bodyErr != nil:
				docErr = res.bodyErr
			case len(bytes.TrimSpace(res.body)) == 0:
				docErr = errors.New("empty body, not JSON")
			default:
				if doc, docErr = decodeJSON(res.body); docErr != nil {
					docErr = fmt.Errorf("body is not JSON: %v", docErr)
				}
			}
		}
		return doc, docErr
	}
	for _, a := range st.Expect.JSON {
		what := "json " + a.Path
		operand, err := expandAll(a.Match.Value)
		if err != nil {
			out = append(out, Assertion{What: what, Expected: a.Match.describe(a.Match.Value), Got: err.Error(), Outcome: Error})
			continue
		}
		expected := a.Match.describe(operand)
		if res.err != nil {
			out = append(out, noResponse(what, expected))
			continue
		}
		v, err := parsed()
		if err != nil {
			out = append(out, Assertion{What: what, Expected: expected, Got: err.Error(), Outcome: Error})
			continue
		}
		nodes := []any(a.path.Select(v))
		out = append(out, Assertion{What: what, Expected: expected, Got: describeNodes(nodes), Outcome: outcome(a.Match.matchNodes(nodes, operand))})
	}

	// headers
	for _, a := range st.Expect.Headers {
		what := "header " + a.Name
		operand, err := expandAll(a.Match.Value)
		if err != nil {
			out = append(out, Assertion{What: what, Expected: a.Match.describe(a.Match.Value), Got: err.Error(), Outcome: Error})
			continue
		}
		expected := a.Match.describe(operand)
		if res.err != nil {
			out = append(out, noResponse(what, expected))
			continue
		}
		vals, present := res.header[a.Name]
		text := strings.Join(vals, ", ")
		got := strconv.Quote(text)
		switch {
		case !present:
			got = "absent"
		case r.suite.redacts(a.Name):
			got = Mask
		}
		out = append(out, Assertion{What: what, Expected: expected, Got: got, Outcome: outcome(a.Match.matchText(text, present, operand))})
	}

	// body
	if m := st.Expect.Body; m != nil {
		operand, err := expandAll(m.Value)
		switch {
		case err != nil:
			out = append(out, Assertion{What: "body", Expected: m.describe(m.Value), Got: err.Error(), Outcome: Error})
		case res.err != nil:
			out = append(out, noResponse("body", m.describe(operand)))
		case res.bodyErr != nil:
			out = append(out, Assertion{What: "body", Expected: m.describe(operand), Got: res.bodyErr.Error(), Outcome: Error})
		default:
			text := string(res.body)
			shown := text
			if len(shown) > 2*maxGot {
				shown = shown[:2*maxGot]
			}
			out = append(out, Assertion{What: "body", Expected: m.describe(operand), Got: strconv.Quote(shown), Outcome: outcome(m.matchText(text, text != "", operand))})
		}
	}

	// latency
	if maxLat := st.Expect.MaxLatency; maxLat > 0 {
		expected := "≤ " + maxLat.String()
		if res.err != nil {
			out = append(out, noResponse("latency", expected))
		} else {
			out = append(out, Assertion{What: "latency", Expected: expected, Got: res.latency.String(), Outcome: outcome(res.latency <= maxLat)})
		}
	}

	// captures
	captured := map[string]string{}
	for _, c := range st.Captures {
		what := "capture " + c.Name
		if res.err != nil {
			out = append(out, noResponse(what, c.From))
			continue
		}
		var val string
		var o Outcome
		if c.header != "" {
			vals, present := res.header[c.header]
			val, o = strings.Join(vals, ", "), outcome(present)
			if !present {
				val = "absent"
			}
		} else if v, err := parsed(); err != nil {
			val, o = err.Error(), Error
		} else {
			nodes := c.path.Select(v)
			switch len(nodes) {
			case 0:
				val, o = "nothing", Failed
			case 1:
				val, o = nodeText(nodes[0]), Passed
			default:
				val, o = fmt.Sprintf("%d values, want exactly one: %s", len(nodes), describeNodes(nodes)), Failed
			}
		}
		got := val
		if o == Passed {
			captured[c.Name] = val
			if r.secret[c.Name] {
				r.mask.add(val)
				got = Mask
			}
		}
		out = append(out, Assertion{What: what, Expected: c.From, Got: got, Outcome: o})
	}
	for i := range out {
		out[i].Got = capText(out[i].Got)
	}
	return out, captured
}

func outcome(ok bool) Outcome {
	if ok {
		return Passed
	}
	return Failed
}

// maxGot caps the "got" side of an assertion; the full body is in the
// response record.
const maxGot = 200

func capText(s string) string {
	if len(s) <= maxGot {
		return s
	}
	cut := maxGot
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
