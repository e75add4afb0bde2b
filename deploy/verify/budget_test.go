package verify_test

import (
	"reflect"
	"testing"

	"github.com/mainline-cd/mainline/deploy/verify"
)

func TestBudget(t *testing.T) {
	const (
		P = verify.Passed
		F = verify.Failed
		E = verify.Error
		S = verify.Skipped
	)
	tests := []struct {
		name     string
		failures int
		errors   int
		runs     []verify.Outcome
		want     []bool // act after each run
	}{
		{"zero value: one failure acts", 0, 0, []verify.Outcome{P, F, F}, []bool{false, true, true}},
		{"zero value: three errors act", 0, 0, []verify.Outcome{E, E, E, E}, []bool{false, false, true, false}},
		{"failures must be consecutive", 2, 3, []verify.Outcome{F, P, F, P, F, F}, []bool{false, false, false, false, false, true}},
		{"errors must be consecutive", 1, 2, []verify.Outcome{E, P, E, F}, []bool{false, false, false, true}},
		{"a failure resets the error count", 2, 2, []verify.Outcome{E, F, E, P}, []bool{false, false, false, false}},
		{"errors add up to a failure", 2, 2, []verify.Outcome{F, E, E}, []bool{false, false, true}},
		{"an error does not reset failures", 2, 3, []verify.Outcome{F, E, F}, []bool{false, false, true}},
		{"counts restart after acting", 2, 3, []verify.Outcome{F, F, F, F}, []bool{false, true, false, true}},
		{"skipped runs do not count", 1, 1, []verify.Outcome{S, S}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := verify.Budget{FailureLimit: tt.failures, ErrorLimit: tt.errors}
			var got []bool
			for _, o := range tt.runs {
				got = append(got, b.Record(o))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("act after %v = %v, want %v", tt.runs, got, tt.want)
			}
		})
	}
}

func TestNewBudgetTakesSuiteLimits(t *testing.T) {
	s, err := verify.Parse("s.yaml", []byte("base_url: http://127.0.0.1:1\nfailure_budget: 2\nerror_budget: 5\nsteps: [{name: a, request: {path: /}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := verify.NewBudget(s)
	if b.FailureLimit != 2 || b.ErrorLimit != 5 {
		t.Errorf("NewBudget = %+v, want limits 2 and 5", b)
	}
	if b.Record(verify.Failed) || !b.Record(verify.Failed) {
		t.Errorf("two failures with failure_budget 2 should act on the second")
	}
}
