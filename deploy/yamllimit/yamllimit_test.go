package yamllimit_test

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml/lexer"

	"github.com/mainline-cd/mainline/deploy/yamllimit"
)

func TestTooDeep(t *testing.T) {
	tests := []struct {
		name string
		src  string
		deep bool
	}{
		{"flat", "a: 1\nb: [1, 2]\n", false},
		{"a few levels", "a:\n  b:\n    c: [ {d: 1} ]\n", false},
		{"deep flow", strings.Repeat("[", 100) + strings.Repeat("]", 100), true},
		{"deep block", func() string {
			var b strings.Builder
			for i := range 40 {
				b.WriteString(strings.Repeat("  ", i) + "k:\n")
			}
			return b.String()
		}(), true},
		{"deep dashes on one line", strings.Repeat("- ", 50) + "x\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := yamllimit.TooDeep(lexer.Tokenize(tt.src), 16) != nil; got != tt.deep {
				t.Errorf("TooDeep = %v, want %v", got, tt.deep)
			}
		})
	}
}
