package verify

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/theory/jsonpath"
)

// ParseError is one mistake in a suite file.
type ParseError struct {
	File         string
	Line, Column int
	Field        string // e.g. steps[0].expect.status; empty for the file as a whole
	Msg          string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Field, e.Msg)
}

// ParseErrors is every mistake Parse found in a suite, in file order.
type ParseErrors []*ParseError

func (e ParseErrors) Error() string {
	lines := make([]string, len(e))
	for i, pe := range e {
		lines[i] = pe.Error()
	}
	return strings.Join(lines, "\n")
}

// Parse reads a suite from data; file names it in error messages. Unknown
// keys, wrong types and impossible values are errors, never ignored: a
// misspelt assertion must not pass by not being made. The error, when not
// nil, is a ParseErrors listing every mistake found.
func Parse(file string, data []byte) (*Suite, error) {
	if err := checkLimits(file, data); err != nil {
		return nil, err
	}
	root, err := parseYAML(data)
	if err != nil {
		pe := err.(*posError)
		return nil, ParseErrors{{File: file, Line: pe.pos.line, Column: pe.pos.col, Msg: pe.msg}}
	}
	d := &decoder{file: file}
	s := d.suite(root)
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *ParseError) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		return nil, d.errs
	}
	return s, nil
}

type decoder struct {
	file string
	errs ParseErrors
}

func (d *decoder) errorf(p pos, field, format string, args ...any) {
	d.errs = append(d.errs, &ParseError{File: d.file, Line: p.line, Column: p.col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// fields checks that n is a mapping whose keys are all in known and returns
// its entries by key; ok is false when n is not a mapping.
func (d *decoder) fields(n *node, field string, known ...string) (m map[string]*entry, ok bool) {
	if n.kind != kindMap {
		d.errorf(n.pos, field, "want a mapping, got %s", n.describe())
		return nil, false
	}
	m = make(map[string]*entry, len(n.entries))
	for i := range n.entries {
		e := &n.entries[i]
		if !slices.Contains(known, e.key) {
			d.errorf(e.keyPos, fieldPath(field, e.key), "unknown field; want one of %s", strings.Join(known, ", "))
			continue
		}
		m[e.key] = e
	}
	return m, true
}

func (d *decoder) required(m map[string]*entry, n *node, field, key string) *entry {
	e := m[key]
	if e == nil {
		d.errorf(n.pos, fieldPath(field, key), "required")
	}
	return e
}

// text returns a scalar's text: strings as they are, numbers and booleans
// as written.
func (d *decoder) text(n *node, field string) (string, bool) {
	if n.kind != kindScalar {
		d.errorf(n.pos, field, "want a string, got %s", n.describe())
		return "", false
	}
	if s, ok := n.value.(string); ok {
		return s, true
	}
	return n.raw, true
}

// template is text that may hold ${…} variables.
func (d *decoder) template(n *node, field string) (string, bool) {
	s, ok := d.text(n, field)
	if !ok {
		return "", false
	}
	if _, err := refs(s); err != nil {
		d.errorf(n.pos, field, "%v", err)
		return "", false
	}
	return s, true
}

func (d *decoder) integer(n *node, field string, min, max int) (int, bool) {
	i, ok := n.value.(int64)
	if n.kind != kindScalar || !ok {
		if u, isU := n.value.(uint64); isU && u > math.MaxInt64 {
			d.errorf(n.pos, field, "must be at most %d, got %s", max, n.raw)
			return 0, false
		}
		d.errorf(n.pos, field, "want an integer, got %s", n.describe())
		return 0, false
	}
	if i < int64(min) || i > int64(max) {
		d.errorf(n.pos, field, "must be between %d and %d, got %d", min, max, i)
		return 0, false
	}
	return int(i), true
}

func (d *decoder) boolean(n *node, field string) (bool, bool) {
	b, ok := n.value.(bool)
	if n.kind != kindScalar || !ok {
		d.errorf(n.pos, field, "want true or false, got %s", n.describe())
		return false, false
	}
	return b, true
}

func (d *decoder) number(n *node, field string) (float64, bool) {
	switch v := n.value.(type) {
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		return v, true
	}
	d.errorf(n.pos, field, "want a number, got %s", n.describe())
	return 0, false
}

// maxDuration bounds every duration in a suite; a day is far beyond any
// sensible timeout or poll interval.
const maxDuration = 24 * time.Hour

func (d *decoder) duration(n *node, field string) (time.Duration, bool) {
	s, isString := n.value.(string)
	if n.kind != kindScalar || !isString {
		d.errorf(n.pos, field, "want a duration such as \"500ms\" or \"10s\", got %s", n.describe())
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(n.pos, field, "want a duration such as \"500ms\" or \"10s\", got %q", s)
		return 0, false
	}
	if v <= 0 || v > maxDuration {
		d.errorf(n.pos, field, "must be more than 0 and at most 24h, got %s", s)
		return 0, false
	}
	return v, true
}

func (d *decoder) suite(root *node) *Suite {
	s := &Suite{
		OnFailure:     Rollback,
		FailureBudget: DefaultFailureBudget,
		ErrorBudget:   DefaultErrorBudget,
		Redact:        slices.Clone(defaultRedact),
		File:          d.file,
	}
	m, ok := d.fields(root, "", "base_url", "schedule", "on_failure", "failure_budget", "error_budget", "redact", "steps")
	if !ok {
		return s
	}
	if e := d.required(m, root, "", "base_url"); e != nil {
		if v, ok := d.template(e.val, "base_url"); ok {
			d.checkBaseURL(e.val, v)
			s.BaseURL = v
		}
	}
	if e := m["schedule"]; e != nil {
		if v, ok := d.text(e.val, "schedule"); ok {
			if err := checkSchedule(v); err != nil {
				d.errorf(e.val.pos, "schedule", "%v", err)
			}
			s.Schedule = v
		}
	}
	if e := m["on_failure"]; e != nil {
		if v, ok := d.text(e.val, "on_failure"); ok {
			switch OnFailure(v) {
			case Rollback, Alert:
				s.OnFailure = OnFailure(v)
			default:
				d.errorf(e.val.pos, "on_failure", "want rollback or alert, got %q", v)
			}
		}
	}
	if e := m["failure_budget"]; e != nil {
		if v, ok := d.integer(e.val, "failure_budget", 1, 1000); ok {
			s.FailureBudget = v
		}
	}
	if e := m["error_budget"]; e != nil {
		if v, ok := d.integer(e.val, "error_budget", 1, 1000); ok {
			s.ErrorBudget = v
		}
	}
	if e := m["redact"]; e != nil {
		if e.val.kind != kindSeq {
			d.errorf(e.val.pos, "redact", "want a list of header names, got %s", e.val.describe())
		}
		for i, it := range e.val.items {
			f := indexPath("redact", i)
			if v, ok := d.headerName(it, f); ok && !slices.Contains(s.Redact, v) {
				s.Redact = append(s.Redact, v)
			}
		}
	}
	if e := d.required(m, root, "", "steps"); e != nil {
		s.Steps = d.steps(e.val)
	}
	return s
}

func (d *decoder) checkBaseURL(n *node, v string) {
	if strings.TrimSpace(v) == "" {
		d.errorf(n.pos, "base_url", "must not be empty")
		return
	}
	if strings.Contains(v, "${") {
		return // checked once expanded, at run time
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.errorf(n.pos, "base_url", "want an absolute http or https URL, got %q", v)
	}
}

// checkSchedule accepts the five-field cron expressions gocron runs.
func checkSchedule(spec string) error {
	if n := len(strings.Fields(spec)); n != 5 {
		return fmt.Errorf("want 5 cron fields (minute hour day-of-month month day-of-week), got %d in %q", n, spec)
	}
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("bad cron expression %q: %v", spec, err)
	}
	return nil
}

func (d *decoder) steps(n *node) []*Step {
	if n.kind != kindSeq {
		d.errorf(n.pos, "steps", "want a list of steps, got %s", n.describe())
		return nil
	}
	if len(n.items) == 0 {
		d.errorf(n.pos, "steps", "want at least one step")
		return nil
	}
	var steps []*Step
	seen := map[string]int{}
	for i, it := range n.items {
		f := indexPath("steps", i)
		st := d.step(it, f)
		if st == nil {
			continue
		}
		if st.Name != "" {
			if j, dup := seen[st.Name]; dup {
				d.errorf(it.pos, fieldPath(f, "name"), "duplicate step name %q (also steps[%d])", st.Name, j)
			}
			seen[st.Name] = i
		}
		steps = append(steps, st)
	}
	return steps
}

func (d *decoder) step(n *node, field string) *Step {
	m, ok := d.fields(n, field, "name", "request", "expect", "capture", "retries", "always")
	if !ok {
		return nil
	}
	st := &Step{Retries: Retries{Attempts: 1, Interval: DefaultRetryInterval}}
	if e := d.required(m, n, field, "name"); e != nil {
		if v, ok := d.text(e.val, fieldPath(field, "name")); ok {
			if strings.TrimSpace(v) == "" {
				d.errorf(e.val.pos, fieldPath(field, "name"), "must not be empty")
			}
			st.Name = v
		}
	}
	if e := d.required(m, n, field, "request"); e != nil {
		st.Request = d.request(e.val, fieldPath(field, "request"))
	}
	if e := m["expect"]; e != nil {
		st.Expect = d.expect(e.val, fieldPath(field, "expect"))
	}
	if e := m["capture"]; e != nil {
		st.Captures = d.captures(e.val, fieldPath(field, "capture"))
	}
	if e := m["retries"]; e != nil {
		f := fieldPath(field, "retries")
		if rm, ok := d.fields(e.val, f, "attempts", "interval"); ok {
			if a := d.required(rm, e.val, f, "attempts"); a != nil {
				if v, ok := d.integer(a.val, fieldPath(f, "attempts"), 1, 1000); ok {
					st.Retries.Attempts = v
				}
			}
			if iv := rm["interval"]; iv != nil {
				if v, ok := d.duration(iv.val, fieldPath(f, "interval")); ok {
					st.Retries.Interval = v
				}
			}
		}
	}
	if e := m["always"]; e != nil {
		st.Always, _ = d.boolean(e.val, fieldPath(field, "always"))
	}
	return st
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func (d *decoder) request(n *node, field string) Request {
	r := Request{Method: http.MethodGet, Timeout: DefaultTimeout}
	m, ok := d.fields(n, field, "method", "path", "query", "headers", "json", "body", "timeout")
	if !ok {
		return r
	}
	if e := m["method"]; e != nil {
		if v, ok := d.text(e.val, fieldPath(field, "method")); ok {
			if up := strings.ToUpper(v); slices.Contains(methods, up) {
				r.Method = up
			} else {
				d.errorf(e.val.pos, fieldPath(field, "method"), "unknown method %q; want one of %s", v, strings.Join(methods, ", "))
			}
		}
	}
	if e := d.required(m, n, field, "path"); e != nil {
		f := fieldPath(field, "path")
		if v, ok := d.template(e.val, f); ok {
			if !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "${") {
				d.errorf(e.val.pos, f, "must start with / (or a variable holding a path), got %q", v)
			}
			r.Path = v
		}
	}
	if e := m["query"]; e != nil {
		f := fieldPath(field, "query")
		if e.val.kind != kindMap {
			d.errorf(e.val.pos, f, "want a mapping, got %s", e.val.describe())
		} else {
			r.Query = map[string]string{}
			for _, qe := range e.val.entries {
				if v, ok := d.template(qe.val, fieldPath(f, qe.key)); ok {
					r.Query[qe.key] = v
				}
			}
		}
	}
	if e := m["headers"]; e != nil {
		r.Headers = d.requestHeaders(e.val, fieldPath(field, "headers"))
	}
	if e := m["json"]; e != nil {
		if raw, ok := d.jsonBody(e.val, fieldPath(field, "json")); ok {
			r.JSON = raw
		}
	}
	if e := m["body"]; e != nil {
		f := fieldPath(field, "body")
		if m["json"] != nil {
			d.errorf(e.keyPos, f, "json and body cannot both be set")
		} else if v, ok := d.template(e.val, f); ok {
			r.Body = v
		}
	}
	if e := m["timeout"]; e != nil {
		if v, ok := d.duration(e.val, fieldPath(field, "timeout")); ok {
			r.Timeout = v
		}
	}
	return r
}

// Headers Mainline sets on every request itself.
const (
	SyntheticHeader = "Mainline-Synthetic"
	RunIDHeader     = "Mainline-Run-Id"
)

func (d *decoder) requestHeaders(n *node, field string) map[string]string {
	if n.kind != kindMap {
		d.errorf(n.pos, field, "want a mapping, got %s", n.describe())
		return nil
	}
	out := map[string]string{}
	for _, e := range n.entries {
		f := fieldPath(field, e.key)
		name, ok := d.headerNameText(e.key, e.keyPos, f)
		if !ok {
			continue
		}
		if name == SyntheticHeader || name == RunIDHeader {
			d.errorf(e.keyPos, f, "is set by Mainline on every request")
			continue
		}
		if _, dup := out[name]; dup {
			d.errorf(e.keyPos, f, "header %s given twice", name)
			continue
		}
		if v, ok := d.template(e.val, f); ok {
			out[name] = v
		}
	}
	return out
}

func (d *decoder) headerName(n *node, field string) (string, bool) {
	s, ok := d.text(n, field)
	if !ok {
		return "", false
	}
	return d.headerNameText(s, n.pos, field)
}

func (d *decoder) headerNameText(s string, p pos, field string) (string, bool) {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		d.errorf(p, field, "%q is not a valid header name", s)
		return "", false
	}
	return http.CanonicalHeaderKey(s), true
}

// isTokenChar reports whether r may appear in an HTTP header name (RFC 9110
// token).
func isTokenChar(r rune) bool {
	return r < 0x7f && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}

// jsonBody encodes a YAML value as JSON, keeping the order of mapping keys.
func (d *decoder) jsonBody(n *node, field string) (json.RawMessage, bool) {
	var buf []byte
	ok := true
	var walk func(n *node, f string)
	walk = func(n *node, f string) {
		switch n.kind {
		case kindNull:
			buf = append(buf, "null"...)
		case kindMap:
			buf = append(buf, '{')
			for i, e := range n.entries {
				if i > 0 {
					buf = append(buf, ',')
				}
				if _, err := refs(e.key); err != nil {
					d.errorf(e.keyPos, fieldPath(f, e.key), "%v", err)
					ok = false
				}
				buf = append(buf, jsonString(e.key)...)
				buf = append(buf, ':')
				walk(e.val, fieldPath(f, e.key))
			}
			buf = append(buf, '}')
		case kindSeq:
			buf = append(buf, '[')
			for i, it := range n.items {
				if i > 0 {
					buf = append(buf, ',')
				}
				walk(it, indexPath(f, i))
			}
			buf = append(buf, ']')
		default:
			switch v := n.value.(type) {
			case string:
				if _, err := refs(v); err != nil {
					d.errorf(n.pos, f, "%v", err)
					ok = false
				}
				buf = append(buf, jsonString(v)...)
			default:
				buf = append(buf, scalarJSON(n)...)
			}
		}
	}
	walk(n, field)
	return buf, ok
}

// scalarJSON is the JSON text of a non-string scalar.
func scalarJSON(n *node) string {
	switch v := n.value.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return "null"
}

// jsonValue converts a YAML value to the Go value encoding/json decodes the
// same JSON into (numbers as json.Number).
func (d *decoder) jsonValue(n *node, field string) (any, bool) {
	raw, ok := d.jsonBody(n, field)
	if !ok {
		return nil, false
	}
	v, err := decodeJSON(raw)
	if err != nil {
		d.errorf(n.pos, field, "%v", err)
		return nil, false
	}
	return v, true
}

func (d *decoder) expect(n *node, field string) Expect {
	var x Expect
	m, ok := d.fields(n, field, "status", "json", "headers", "body", "max_latency")
	if !ok {
		return x
	}
	if e := m["status"]; e != nil {
		f := fieldPath(field, "status")
		switch e.val.kind {
		case kindSeq:
			if len(e.val.items) == 0 {
				d.errorf(e.val.pos, f, "want at least one status")
			}
			for i, it := range e.val.items {
				if v, ok := d.integer(it, indexPath(f, i), 100, 599); ok {
					x.Status = append(x.Status, v)
				}
			}
		default:
			if v, ok := d.integer(e.val, f, 100, 599); ok {
				x.Status = []int{v}
			}
		}
	}
	if e := m["json"]; e != nil {
		f := fieldPath(field, "json")
		if e.val.kind != kindMap {
			d.errorf(e.val.pos, f, "want a mapping of JSONPath to matcher, got %s", e.val.describe())
		}
		for _, je := range e.val.entries {
			jf := quotedPath(f, je.key)
			p, err := jsonpath.Parse(je.key)
			if err != nil {
				d.errorf(je.keyPos, jf, "bad JSONPath: %v", err)
				continue
			}
			if mt, ok := d.matcher(je.val, jf, true); ok {
				x.JSON = append(x.JSON, JSONAssertion{Path: je.key, Match: mt, path: p})
			}
		}
	}
	if e := m["headers"]; e != nil {
		f := fieldPath(field, "headers")
		if e.val.kind != kindMap {
			d.errorf(e.val.pos, f, "want a mapping of header name to matcher, got %s", e.val.describe())
		}
		for _, he := range e.val.entries {
			hf := fieldPath(f, he.key)
			name, ok := d.headerNameText(he.key, he.keyPos, hf)
			if !ok {
				continue
			}
			if mt, ok := d.matcher(he.val, hf, false); ok {
				x.Headers = append(x.Headers, HeaderAssertion{Name: name, Match: mt})
			}
		}
	}
	if e := m["body"]; e != nil {
		if mt, ok := d.matcher(e.val, fieldPath(field, "body"), false); ok {
			x.Body = &mt
		}
	}
	if e := m["max_latency"]; e != nil {
		if v, ok := d.duration(e.val, fieldPath(field, "max_latency")); ok {
			x.MaxLatency = v
		}
	}
	return x
}

// matcher reads a plain value (equality) or a mapping with exactly one
// operation and an optional `not: true`. jsonOperand allows any JSON value
// as the operand of equals; header and body matchers compare text, so they
// take scalars only.
func (d *decoder) matcher(n *node, field string, jsonOperand bool) (Matcher, bool) {
	if n.kind != kindMap {
		if jsonOperand && n.kind == kindSeq {
			d.errorf(n.pos, field, "want a value or a matcher such as {equals: [...]}, got a list")
			return Matcher{}, false
		}
		v, ok := d.operand(n, field, jsonOperand)
		return Matcher{Op: Equals, Value: v}, ok
	}
	var known []string
	for _, op := range ops {
		known = append(known, string(op))
	}
	known = append(known, "not")
	var mt Matcher
	ok := true
	var first *entry
	for i := range n.entries {
		e := &n.entries[i]
		f := fieldPath(field, e.key)
		if !slices.Contains(known, e.key) {
			d.errorf(e.keyPos, f, "unknown matcher; want one of %s", strings.Join(known, ", "))
			ok = false
			continue
		}
		if e.key == "not" {
			b, bok := d.boolean(e.val, f)
			mt.Not, ok = b, ok && bok
			continue
		}
		if first != nil {
			d.errorf(e.keyPos, f, "a matcher makes one comparison; %s is already given", first.key)
			ok = false
			continue
		}
		first = e
		mt.Op = Op(e.key)
		var vok bool
		switch mt.Op {
		case Equals:
			mt.Value, vok = d.operand(e.val, f, jsonOperand)
		case Exists:
			mt.Value, vok = d.boolean(e.val, f)
		case Matches:
			var s string
			if s, vok = d.text(e.val, f); vok {
				re, err := regexp.Compile(s)
				if err != nil {
					d.errorf(e.val.pos, f, "bad regular expression: %v", err)
					vok = false
				}
				mt.Value, mt.re = s, re
			}
		default:
			mt.Value, vok = d.number(e.val, f)
		}
		ok = ok && vok
	}
	if first == nil && ok {
		d.errorf(n.pos, field, "matcher needs one of %s", strings.Join(known[:len(known)-1], ", "))
		ok = false
	}
	return mt, ok
}

func (d *decoder) operand(n *node, field string, jsonOperand bool) (any, bool) {
	if jsonOperand {
		return d.jsonValue(n, field)
	}
	s, ok := d.text(n, field)
	if !ok {
		return nil, false
	}
	if _, err := refs(s); err != nil {
		d.errorf(n.pos, field, "%v", err)
		return nil, false
	}
	return s, true
}

func (d *decoder) captures(n *node, field string) []Capture {
	if n.kind != kindMap {
		d.errorf(n.pos, field, "want a mapping of name to \"$.path\" or \"header:Name\", got %s", n.describe())
		return nil
	}
	var out []Capture
	for _, e := range n.entries {
		f := fieldPath(field, e.key)
		if !isName(e.key) {
			d.errorf(e.keyPos, f, "capture names are letters, digits and _, starting with a letter or _")
			continue
		}
		from, ok := d.text(e.val, f)
		if !ok {
			continue
		}
		c := Capture{Name: e.key, From: from}
		switch {
		case strings.HasPrefix(from, "$"):
			p, err := jsonpath.Parse(from)
			if err != nil {
				d.errorf(e.val.pos, f, "bad JSONPath: %v", err)
				continue
			}
			c.path = p
		case strings.HasPrefix(from, "header:"):
			name, ok := d.headerNameText(strings.TrimSpace(strings.TrimPrefix(from, "header:")), e.val.pos, f)
			if !ok {
				continue
			}
			c.header = name
		default:
			d.errorf(e.val.pos, f, "want \"$.path\" or \"header:Name\", got %q", from)
			continue
		}
		out = append(out, c)
	}
	return out
}
