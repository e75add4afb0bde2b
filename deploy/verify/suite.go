package verify

import (
	"encoding/json"
	"net/http"
	"regexp"
	"time"

	"github.com/theory/jsonpath"
)

// Defaults applied by Parse when a suite leaves a field out.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultRetryInterval = time.Second
	DefaultFailureBudget = 1
	DefaultErrorBudget   = 3
)

// defaultRedact names the headers whose values never appear in a report;
// it is a table, never modified.
// A suite's `redact` list adds to it.
var defaultRedact = []string{"Authorization", "Cookie", "Set-Cookie", "X-Api-Key"}

// OnFailure says what the controller does when a suite's failure budget is
// spent.
type OnFailure string

const (
	// Rollback returns desired state to the previous verified version.
	Rollback OnFailure = "rollback"
	// Alert notifies and keeps the version.
	Alert OnFailure = "alert"
)

// A Suite is a parsed verification suite. Parse fills in every default, so
// a Suite from Parse can be run as is.
type Suite struct {
	File          string    // name the suite was parsed under, for messages
	BaseURL       string    // unexpanded, e.g. "${SERVICE_URL}/api"
	Schedule      string    // 5-field cron; empty: run only after rollouts
	OnFailure     OnFailure // Rollback unless the suite says alert
	FailureBudget int       // consecutive failed runs before OnFailure acts
	ErrorBudget   int       // consecutive error runs that count as one failed run
	Redact        []string  // header names masked in reports: Authorization, Cookie, Set-Cookie, X-Api-Key and the suite's `redact` list
	Steps         []*Step
}

// A Step is one HTTP request and what its response must look like.
type Step struct {
	Name     string
	Request  Request
	Expect   Expect
	Captures []Capture // in file order
	Retries  Retries
	// Always steps run even after an earlier step failed: clean-up such as
	// cancelling a test order.
	Always bool
}

// Request is the request a step sends. Path, Query, Headers, Body and the
// strings inside JSON may use ${name} variables.
type Request struct {
	Method  string            // upper case; GET by default
	Path    string            // starts with "/"; appended to the base URL
	Query   map[string]string // added to the URL's query
	Headers map[string]string // canonical names
	JSON    json.RawMessage   // body sent as application/json; nil when unset
	Body    string            // raw body, when JSON is nil
	Timeout time.Duration     // per attempt; DefaultTimeout by default
}

// Expect lists a step's assertions. Every one of them is evaluated and
// reported, whatever the outcome of the others.
type Expect struct {
	Status     []int // any of these passes; empty means any 2xx
	JSON       []JSONAssertion
	Headers    []HeaderAssertion
	Body       *Matcher      // on the raw body; nil when unset
	MaxLatency time.Duration // 0 when unset
}

// JSONAssertion applies a matcher to the nodes a JSONPath query selects in
// the response body.
type JSONAssertion struct {
	Path  string
	Match Matcher
	path  *jsonpath.Path
}

// HeaderAssertion applies a matcher to a response header.
type HeaderAssertion struct {
	Name  string // canonical
	Match Matcher
}

// Op is the comparison a Matcher makes.
type Op string

// The matcher operations. In a suite, a plain scalar is Equals.
const (
	Equals  Op = "equals"
	Exists  Op = "exists"
	Matches Op = "matches"
	Less    Op = "lt"
	LessEq  Op = "lte"
	Greater Op = "gt"
	GreatEq Op = "gte"
)

// ops is the order in which operations are listed in messages.
var ops = []Op{Equals, Exists, Matches, Less, LessEq, Greater, GreatEq}

// A Matcher is one comparison, optionally negated.
type Matcher struct {
	Op Op
	// Value is the operand: for Equals a JSON value (nil, bool, string,
	// json.Number, []any or map[string]any); for Exists a bool; for
	// Matches the regular expression; for the ordering operations a
	// float64.
	Value any
	Not   bool
	re    *regexp.Regexp
}

// Capture names a value taken from a response, for use as ${Name} in later
// steps.
type Capture struct {
	Name string
	From string // as written: "$.id" or "header:Location"

	path   *jsonpath.Path // when From is a JSONPath query
	header string         // canonical header name otherwise
}

// Retries makes a step poll: it is tried up to Attempts times, Interval
// apart, until it passes. Attempts counts the first try.
type Retries struct {
	Attempts int
	Interval time.Duration
}

// redacts reports whether header values named name are masked.
func (s *Suite) redacts(name string) bool {
	name = http.CanonicalHeaderKey(name)
	for _, r := range s.Redact {
		if r == name {
			return true
		}
	}
	return false
}
