package verify

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// This file turns YAML into a small tree of nodes that remember where they
// were written. The suite decoder works on that tree instead of on
// goccy/go-yaml's AST so that it sees only the handful of node kinds a suite
// may use, and so that every error it reports can name a line and column.

type nodeKind int

const (
	kindNull nodeKind = iota
	kindScalar
	kindMap
	kindSeq
)

// pos is a 1-based line and column in the suite file.
type pos struct{ line, col int }

type node struct {
	kind    nodeKind
	pos     pos
	value   any     // kindScalar: string, int64, uint64, float64 or bool
	raw     string  // kindScalar other than string: the text as written
	entries []entry // kindMap, in file order
	items   []*node // kindSeq
}

type entry struct {
	key    string
	keyPos pos
	val    *node
}

// describe names what n is, for "want X, got Y" messages.
func (n *node) describe() string {
	switch n.kind {
	case kindNull:
		return "null"
	case kindMap:
		return "a mapping"
	case kindSeq:
		return "a list"
	}
	if s, ok := n.value.(string); ok {
		return strconv.Quote(s)
	}
	return n.raw
}

// posError is a YAML-level error at a position, before any field path is
// known.
type posError struct {
	pos pos
	msg string
}

func (e *posError) Error() string { return fmt.Sprintf("%d:%d: %s", e.pos.line, e.pos.col, e.msg) }

// parseYAML parses exactly one YAML document into a node tree.
func parseYAML(data []byte) (root *node, err error) {
	// A suite file is user input; should the YAML parser panic on some
	// malformed input, that must become an error here, not a crash of the
	// controller.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &posError{pos{1, 1}, fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			return nil, &posError{tokenPos(ye.GetToken()), ye.GetMessage()}
		}
		return nil, &posError{pos{1, 1}, err.Error()}
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch len(docs) {
	case 0:
		return nil, &posError{pos{1, 1}, "empty suite"}
	case 1:
	default:
		return nil, &posError{startPos(docs[1].Body), "want one YAML document, found more"}
	}
	return convert(docs[0].Body)
}

func tokenPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{1, 1}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// startPos is where n begins in the file. For a block mapping goccy's token
// is the first ':'; the first key is where a reader looks.
func startPos(n ast.Node) pos {
	switch n := n.(type) {
	case *ast.MappingNode:
		if !n.IsFlowStyle && len(n.Values) > 0 && n.Values[0].Key != nil {
			return startPos(n.Values[0].Key)
		}
	case *ast.MappingValueNode:
		if n.Key != nil {
			return startPos(n.Key)
		}
	}
	return tokenPos(n.GetToken())
}

func convert(n ast.Node) (*node, error) {
	p := startPos(n)
	switch n := n.(type) {
	case *ast.NullNode:
		return &node{kind: kindNull, pos: p}, nil
	case *ast.StringNode:
		return &node{kind: kindScalar, pos: p, value: n.Value}, nil
	case *ast.LiteralNode:
		s := ""
		if n.Value != nil {
			s = n.Value.Value
		}
		return &node{kind: kindScalar, pos: p, value: s}, nil
	case *ast.IntegerNode:
		switch v := n.Value.(type) {
		case int64:
			return &node{kind: kindScalar, pos: p, value: v, raw: n.GetToken().Value}, nil
		case uint64:
			// goccy/go-yaml reads small positive integers as uint64;
			// keep uint64 only for what int64 cannot hold.
			var val any = v
			if v <= math.MaxInt64 {
				val = int64(v)
			}
			return &node{kind: kindScalar, pos: p, value: val, raw: n.GetToken().Value}, nil
		}
		return nil, &posError{p, fmt.Sprintf("unsupported integer %v", n.Value)}
	case *ast.FloatNode:
		return &node{kind: kindScalar, pos: p, value: n.Value, raw: n.GetToken().Value}, nil
	case *ast.InfinityNode:
		return nil, &posError{p, "infinity is not a usable value"}
	case *ast.NanNode:
		return nil, &posError{p, "NaN is not a usable value"}
	case *ast.BoolNode:
		return &node{kind: kindScalar, pos: p, value: n.Value, raw: n.GetToken().Value}, nil
	case *ast.MappingNode:
		out := &node{kind: kindMap, pos: p}
		for _, mv := range n.Values {
			if err := addEntry(out, mv); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *ast.MappingValueNode:
		out := &node{kind: kindMap, pos: p}
		if err := addEntry(out, n); err != nil {
			return nil, err
		}
		return out, nil
	case *ast.SequenceNode:
		out := &node{kind: kindSeq, pos: p}
		for _, v := range n.Values {
			if v == nil {
				out.items = append(out.items, &node{kind: kindNull, pos: p})
				continue
			}
			c, err := convert(v)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, c)
		}
		return out, nil
	case *ast.AnchorNode, *ast.AliasNode:
		return nil, &posError{p, "YAML anchors and aliases are not supported in a suite"}
	case *ast.TagNode:
		return nil, &posError{p, "YAML tags are not supported in a suite; quote the value instead"}
	}
	return nil, &posError{p, fmt.Sprintf("unsupported YAML %s", n.Type())}
}

func addEntry(m *node, mv *ast.MappingValueNode) error {
	if mv.Key == nil {
		return &posError{m.pos, "mapping entry without a key"}
	}
	kp := startPos(mv.Key)
	var key string
	switch k := mv.Key.(type) {
	case *ast.StringNode:
		key = k.Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
		key = k.GetToken().Value
	default:
		if mv.Key.IsMergeKey() {
			return &posError{kp, "YAML merge keys are not supported in a suite"}
		}
		return &posError{kp, "mapping keys must be plain strings"}
	}
	for _, e := range m.entries {
		if e.key == key {
			return &posError{kp, fmt.Sprintf("key %q already defined at line %d", key, e.keyPos.line)}
		}
	}
	var val *node
	if mv.Value == nil {
		val = &node{kind: kindNull, pos: kp}
	} else {
		v, err := convert(mv.Value)
		if err != nil {
			return err
		}
		val = v
	}
	m.entries = append(m.entries, entry{key: key, keyPos: kp, val: val})
	return nil
}

// fieldPath appends key to a dotted field path, quoting keys that are not
// plain identifiers: steps[0].expect.json["$.id"].
func fieldPath(parent, key string) string {
	if isIdent(key) {
		if parent == "" {
			return key
		}
		return parent + "." + key
	}
	return parent + "[" + strconv.Quote(key) + "]"
}

// quotedPath appends a key that is data rather than a field name (a
// JSONPath, a header name), always in brackets: json["$.id"].
func quotedPath(parent, key string) string { return parent + "[" + strconv.Quote(key) + "]" }

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return !strings.HasSuffix(s, "-")
}
