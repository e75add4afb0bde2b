package verify

import (
	"fmt"

	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
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
	if tk := tooDeep(tokens); tk != nil {
		p := tokenPos(tk)
		return fail(p.line, p.col, "nesting is deeper than %d levels", MaxDepth)
	}
	return nil
}

// tooDeep estimates nesting from the tokens alone, before parsing: open
// flow brackets, plus indentation levels and block indicators ("- ",
// "? ", ": ") on a line. The estimate is at most about twice the real
// depth, so it is held to 2*MaxDepth. (deploy/config makes the same
// check on .mainline.yaml.)
func tooDeep(tokens token.Tokens) *token.Token {
	var (
		flow    int
		indents []int // columns of the open block levels
		line    = -1
		onLine  int // block indicators on the current line
	)
	for _, tk := range tokens {
		if tk.Position == nil {
			continue
		}
		if tk.Position.Line != line && flow == 0 {
			line, onLine = tk.Position.Line, 0
			col := tk.Position.Column
			for len(indents) > 0 && indents[len(indents)-1] >= col {
				indents = indents[:len(indents)-1]
			}
			indents = append(indents, col)
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
			onLine++
		}
		if flow+len(indents)+onLine > 2*MaxDepth {
			return tk
		}
	}
	return nil
}
