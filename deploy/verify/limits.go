package verify

import (
	"fmt"

	"github.com/goccy/go-yaml/lexer"

	"github.com/mainline-cd/mainline/deploy/yamllimit"
)

// Limits on a suite file, which comes from a repository and is untrusted
// input. The YAML parser's time grows with the square of the nesting (a
// file of 50,000 "[" takes it seconds) and faster than linearly with the
// number of tokens, so both are bounded before it runs; real suites are a
// few kilobytes, a few levels deep.
const (
	MaxFileSize = 1 << 20 // bytes
	MaxDepth    = 64      // nested mappings and lists, request bodies included
	MaxTokens   = 100_000 // YAML tokens (scalars, indicators, brackets)
)

// checkLimits refuses a suite over the size, token or nesting limits.
func checkLimits(file string, data []byte) error {
	fail := func(line, col int, format string, args ...any) error {
		return ParseErrors{{File: file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}}
	}
	if len(data) > MaxFileSize {
		return fail(1, 1, "suite is %d bytes, over the limit of %d", len(data), MaxFileSize)
	}
	tokens := lexer.Tokenize(string(data))
	if len(tokens) > MaxTokens {
		p := tokenPos(tokens[MaxTokens])
		return fail(p.line, p.col, "suite has more than %d YAML tokens", MaxTokens)
	}
	if tk := yamllimit.TooDeep(tokens, MaxDepth); tk != nil {
		p := tokenPos(tk)
		return fail(p.line, p.col, "nesting is deeper than %d levels", MaxDepth)
	}
	return nil
}
