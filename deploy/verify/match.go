package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
)

// decodeJSON decodes one JSON document, numbers as json.Number so that
// large integers compare exactly. Trailing data is an error: a body that is
// not exactly one JSON value is not JSON.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// compactJSON renders a decoded JSON value on one line.
func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// jsonEqual compares decoded JSON values; numbers compare by value, so 1,
// 1.0 and 1e0 are equal.
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		x, okx := new(big.Rat).SetString(a.String())
		y, oky := new(big.Rat).SetString(bn.String())
		return okx && oky && x.Cmp(y) == 0
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], bs[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !jsonEqual(av, bv) {
				return false
			}
		}
		return true
	case string, bool, nil:
		return a == b
	}
	return false
}

// String describes what the matcher expects, with operand standing for its
// (expanded) operand: `"open"`, `not "open"`, `matches /^o/`, `< 5`, ….
func (m Matcher) describe(operand any) string {
	var s string
	switch m.Op {
	case Equals:
		if str, ok := operand.(string); ok {
			s = strconv.Quote(str)
		} else {
			s = compactJSON(operand)
		}
	case Exists:
		present := operand == true
		if present != m.Not {
			return "present"
		}
		return "absent"
	case Matches:
		if m.Not {
			return fmt.Sprintf("does not match /%s/", m.Value)
		}
		return fmt.Sprintf("matches /%s/", m.Value)
	default:
		s = fmt.Sprintf("%s %s", opSymbol[m.Op], strconv.FormatFloat(m.Value.(float64), 'g', -1, 64))
	}
	if m.Not {
		return "not " + s
	}
	return s
}

var opSymbol = map[Op]string{Less: "<", LessEq: "≤", Greater: ">", GreatEq: "≥"}

// order applies an ordering operation; ok is false for the others.
func order(op Op, x, y float64) (result, ok bool) {
	switch op {
	case Less:
		return x < y, true
	case LessEq:
		return x <= y, true
	case Greater:
		return x > y, true
	case GreatEq:
		return x >= y, true
	}
	return false, false
}

// matchNodes applies m to the nodes a JSONPath query selected. Exists asks
// whether there is any node; every other operation needs at least one node
// and passes when it holds for each of them. Not negates the comparison,
// not the presence of a node: a missing field or a string compared with <
// fails either way.
func (m Matcher) matchNodes(nodes []any, operand any) bool {
	if m.Op == Exists {
		return (len(nodes) > 0) == (operand == true) != m.Not
	}
	if len(nodes) == 0 {
		return false
	}
	for _, n := range nodes {
		var ok bool
		switch m.Op {
		case Equals:
			ok = jsonEqual(n, operand)
		case Matches:
			ok = m.re.MatchString(nodeText(n))
		default:
			num, isNum := n.(json.Number)
			if !isNum {
				return false
			}
			x, err := strconv.ParseFloat(num.String(), 64)
			if err != nil {
				return false
			}
			ok, _ = order(m.Op, x, m.Value.(float64))
		}
		if ok == m.Not {
			return false
		}
	}
	return true
}

// matchText applies m to a header value or body; present is false for a
// missing header.
func (m Matcher) matchText(text string, present bool, operand any) bool {
	if m.Op == Exists {
		return present == (operand == true) != m.Not
	}
	if !present {
		return false
	}
	var ok bool
	switch m.Op {
	case Equals:
		ok = text == operand
	case Matches:
		ok = m.re.MatchString(text)
	default:
		x, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return false
		}
		ok, _ = order(m.Op, x, m.Value.(float64))
	}
	return ok != m.Not
}

// nodeText is what `matches` sees of a JSON node: a string's contents, or
// the JSON text of any other value.
func nodeText(n any) string {
	if s, ok := n.(string); ok {
		return s
	}
	return compactJSON(n)
}

// describeNodes renders selected nodes for the "got" side of a report.
func describeNodes(nodes []any) string {
	if len(nodes) == 0 {
		return "nothing"
	}
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = compactJSON(n)
	}
	return strings.Join(parts, ", ")
}
