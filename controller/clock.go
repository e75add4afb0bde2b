package controller

import "time"

// Clock is the controller's source of time, so tests can run the loop
// without sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d and returns a func
	// that cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
