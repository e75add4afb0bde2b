package verify

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Outcome is the result of an assertion, a step or a run.
type Outcome string

const (
	// Passed: the service answered as expected.
	Passed Outcome = "passed"
	// Failed: the service answered, wrongly.
	Failed Outcome = "failed"
	// Error: the answer could not be measured (connection refused,
	// timeout, a body that is not JSON, …).
	Error Outcome = "error"
	// Skipped: a step not run because an earlier one did not pass.
	Skipped Outcome = "skipped"
)

// Mask replaces every secret in a report.
const Mask = "***"

// MaxRecordedBody caps each request and response body kept in a report.
const MaxRecordedBody = 64 << 10

// A Report is the record of one run of a suite: every request and response
// and every assertion's outcome, with secrets masked. It is plain data and
// encodes to JSON as the controller stores it.
type Report struct {
	RunID     string        `json:"run_id"`
	Suite     string        `json:"suite"`
	BaseURL   string        `json:"base_url"`
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration_ns"`
	Outcome   Outcome       `json:"outcome"`
	Error     string        `json:"error,omitempty"` // why no step could run, if so
	Steps     []StepReport  `json:"steps"`
}

// StepReport is one step of a run. When a step was tried more than once,
// Request, Response and Assertions are those of the last attempt.
type StepReport struct {
	Name       string            `json:"name"`
	Always     bool              `json:"always,omitempty"`
	Outcome    Outcome           `json:"outcome"`
	Attempts   int               `json:"attempts"`
	Note       string            `json:"note,omitempty"`  // why the step was skipped
	Error      string            `json:"error,omitempty"` // why it could not be measured
	Request    *RequestRecord    `json:"request,omitempty"`
	Response   *ResponseRecord   `json:"response,omitempty"`
	Assertions []Assertion       `json:"assertions,omitempty"`
	Captured   map[string]string `json:"captured,omitempty"`
}

// RequestRecord is a request as sent.
type RequestRecord struct {
	Method        string      `json:"method"`
	URL           string      `json:"url"`
	Headers       http.Header `json:"headers"`
	Body          string      `json:"body,omitempty"`
	BodyTruncated bool        `json:"body_truncated,omitempty"`
}

// ResponseRecord is a response as received.
type ResponseRecord struct {
	Status        int           `json:"status"`
	Headers       http.Header   `json:"headers"`
	Body          string        `json:"body,omitempty"`
	BodyTruncated bool          `json:"body_truncated,omitempty"`
	Latency       time.Duration `json:"latency_ns"`
}

// An Assertion is one check on a response: What was looked at, what was
// Expected and what it Got.
type Assertion struct {
	What     string  `json:"what"`
	Expected string  `json:"expected"`
	Got      string  `json:"got"`
	Outcome  Outcome `json:"outcome"`
}

// Failure returns the first step that did not pass and its first assertion
// that did not pass, so that an event can say what went wrong in one line.
// ok is false when the run passed. The assertion is zero when the step
// failed without one (e.g. an undefined variable).
func (r *Report) Failure() (step string, a Assertion, ok bool) {
	for _, s := range r.Steps {
		if s.Outcome != Failed && s.Outcome != Error {
			continue
		}
		for _, as := range s.Assertions {
			if as.Outcome == Failed {
				return s.Name, as, true
			}
		}
		for _, as := range s.Assertions {
			if as.Outcome == Error {
				return s.Name, as, true
			}
		}
		return s.Name, Assertion{}, true
	}
	return "", Assertion{}, false
}

// masker hides secret values. Each secret is also hidden in the forms it
// takes inside a URL and a JSON string.
type masker struct{ secrets []string }

func (m *masker) add(s string) {
	if s == "" {
		return
	}
	for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s), strings.Trim(string(jsonString(s)), `"`)} {
		if v != "" && !slices.Contains(m.secrets, v) {
			m.secrets = append(m.secrets, v)
		}
	}
	// Longest first, so that a secret containing another is hidden whole.
	slices.SortFunc(m.secrets, func(a, b string) int { return len(b) - len(a) })
}

func (m *masker) mask(s string) string {
	for _, sec := range m.secrets {
		s = strings.ReplaceAll(s, sec, Mask)
	}
	return s
}

// headers copies h, masking secrets and the values of redacted headers.
func (m *masker) headers(h http.Header, redacted func(string) bool) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		c := make([]string, len(vs))
		for i, v := range vs {
			if redacted(k) {
				c[i] = Mask
			} else {
				c[i] = m.mask(v)
			}
		}
		out[k] = c
	}
	return out
}

// body masks b and caps it at MaxRecordedBody, cutting at a rune boundary.
func (m *masker) body(b []byte) (string, bool) {
	s := m.mask(string(b))
	if len(s) <= MaxRecordedBody {
		return s, false
	}
	cut := MaxRecordedBody
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}
