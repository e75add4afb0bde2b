package verify_test

import (
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/deploy/verify"
)

// TestLimits: a suite over the size, token or nesting limits is refused
// with a positioned error before the YAML parser sees it, and a suite
// nested as deep as a real one may be still parses.
func TestLimits(t *testing.T) {
	const head = "base_url: http://127.0.0.1:1\nsteps:\n"
	nested := func(depth int) string {
		return head + "  - name: deep\n    request: { path: /x, method: POST, json: " +
			strings.Repeat(`{"a": `, depth) + "1" + strings.Repeat("}", depth) + " }\n"
	}
	tests := []struct {
		name, suite, want string
	}{
		{"too large", head + strings.Repeat("#", verify.MaxFileSize), "over the limit of"},
		{"too many tokens", "steps: [" + strings.Repeat("1,", 60_000) + "1]", "more than 100000 YAML tokens"},
		{"deep flow", "steps: " + strings.Repeat("[", 50_000) + strings.Repeat("]", 50_000), "v.yaml:1:"},
		{"deep body", nested(200), "nesting is deeper than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verify.Parse("v.yaml", []byte(tt.suite))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := verify.Parse("v.yaml", []byte(nested(20))); err != nil {
		t.Errorf("a request body nested 20 deep: %v", err)
	}
}
