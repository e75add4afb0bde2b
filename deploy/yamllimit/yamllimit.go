// Package yamllimit bounds untrusted YAML before it is parsed. The YAML
// parser's time grows with the square of the nesting (a file of 100,000
// "[" takes it many seconds), so files that come from repositories —
// .mainline.yaml and verification suites — are checked on their tokens
// first. deploy/config and deploy/verify import it.
package yamllimit

import "github.com/goccy/go-yaml/token"

// TooDeep estimates nesting from the tokens alone: open flow brackets,
// plus indentation levels and block indicators ("- ", "? ", ": ") on a
// line. The estimate is at most about twice the real depth, so it is held
// to 2*maxDepth; callers make the exact check on the parsed tree. It
// returns the first token past that bound, or nil.
func TooDeep(tokens token.Tokens, maxDepth int) *token.Token {
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
		if flow+len(indents)+onLine > 2*maxDepth {
			return tk
		}
	}
	return nil
}
