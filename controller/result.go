package controller

import (
	"errors"
	"fmt"
	"time"
)

// Result says what a stage found, in the small vocabulary every stage
// shares.
type Result int

const (
	// Ready: nothing to do here; go on to the next stage.
	Ready Result = iota
	// Progress: the stage changed something; run the project again soon.
	Progress
	// Waiting: an outside system is busy, or a precondition is not met;
	// check back after Outcome.After (or at the next resync when zero).
	Waiting
)

func (r Result) String() string {
	switch r {
	case Ready:
		return "ready"
	case Progress:
		return "progress"
	case Waiting:
		return "waiting"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Outcome is what a stage returns besides an error.
type Outcome struct {
	Result Result
	// After is when to look again, for Progress and Waiting.
	After time.Duration
	// Reason says why, in words a user reads on the dashboard: "waiting
	// for api to reach 0.3.15 (depends_on)".
	Reason string
}

func ready() Outcome { return Outcome{Result: Ready} }

func progress(after time.Duration, format string, args ...any) Outcome {
	return Outcome{Result: Progress, After: after, Reason: fmt.Sprintf(format, args...)}
}

func waiting(after time.Duration, format string, args ...any) Outcome {
	return Outcome{Result: Waiting, After: after, Reason: fmt.Sprintf(format, args...)}
}

// StalledError is an error a retry cannot fix: it needs a human (an invalid
// .mainline.yaml, say). The project is not retried with back-off; it is
// looked at again when something changes (a new commit) or at resync.
type StalledError struct {
	Reason string
}

func (e *StalledError) Error() string { return e.Reason }

// stalled returns a *StalledError with a formatted reason.
func stalled(format string, args ...any) error {
	return &StalledError{Reason: fmt.Sprintf(format, args...)}
}

// IsStalled reports whether err is or wraps a *StalledError.
func IsStalled(err error) bool {
	var s *StalledError
	return errors.As(err, &s)
}
