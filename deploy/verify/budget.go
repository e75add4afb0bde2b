package verify

// Budget turns the outcomes of consecutive runs of one suite into the
// decision to act (roll back or alert, per the suite's on_failure). A
// single failed run may be a blip; an error run (the service could not be
// measured) may be the network rather than the release, so errors have
// their own, usually larger, allowance before they count as a failed run.
//
// The zero Budget uses DefaultFailureBudget and DefaultErrorBudget. Budget
// is plain data so the controller can store it between runs.
type Budget struct {
	FailureLimit int `json:"failure_limit"` // consecutive failed runs before acting
	ErrorLimit   int `json:"error_limit"`   // consecutive error runs that count as one failed run

	Failures int `json:"failures"` // consecutive failed runs so far
	Errors   int `json:"errors"`   // consecutive error runs not yet counted as a failure
}

// NewBudget returns an empty budget with s's limits.
func NewBudget(s *Suite) Budget {
	return Budget{FailureLimit: s.FailureBudget, ErrorLimit: s.ErrorBudget}
}

// Record adds the outcome of one run and reports whether on_failure should
// act now. A passed run clears both counts. An error run neither clears the
// failures nor adds to them until ErrorLimit of them in a row make one
// failed run. When Record says act, the counts start again from zero, so
// the next action needs a full budget of new failures.
func (b *Budget) Record(o Outcome) (act bool) {
	switch o {
	case Passed:
		b.Failures, b.Errors = 0, 0
		return false
	case Failed:
		b.Failures++
		b.Errors = 0
	case Error:
		b.Errors++
		if b.Errors < limit(b.ErrorLimit, DefaultErrorBudget) {
			return false
		}
		b.Errors = 0
		b.Failures++
	default:
		return false
	}
	if b.Failures < limit(b.FailureLimit, DefaultFailureBudget) {
		return false
	}
	b.Failures, b.Errors = 0, 0
	return true
}

func limit(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}
