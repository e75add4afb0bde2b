package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/mainline-cd/mainline/deploy/yamllimit"
)

// Parse reads a .mainline.yaml. filename is used only in error messages.
// It returns either a Config with every default filled in, or an Errors
// listing every problem found.
func Parse(filename string, data []byte) (*Config, error) {
	root, err := parseYAML(filename, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: filename}
	cfg := d.config(root)
	d.crossCheck(cfg)
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b Error) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		if len(d.errs) > MaxErrors {
			d.errs = append(d.errs[:MaxErrors], Error{File: filename, Msg: "too many errors"})
		}
		return nil, d.errs
	}
	return cfg, nil
}

// parseYAML checks the limits on untrusted input and returns the body of
// the file's only document, which is nil for an empty file.
func parseYAML(file string, data []byte) (ast.Node, error) {
	fail := func(line, col int, format string, args ...any) error {
		return Errors{{File: file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}}
	}
	if len(data) > MaxFileSize {
		return nil, fail(0, 0, "file is larger than the limit of %d bytes", MaxFileSize)
	}
	if !utf8.Valid(data) {
		line, col := invalidUTF8(data)
		return nil, fail(line, col, "file is not valid UTF-8")
	}
	// Editors on Windows may start a file with a byte order mark.
	text := strings.TrimPrefix(string(data), "\ufeff")
	tokens := lexer.Tokenize(text)
	if len(tokens) > MaxTokens {
		line, col := tokenPos(tokens[MaxTokens])
		return nil, fail(line, col, "file has more than %d YAML tokens", MaxTokens)
	}
	if tk := yamllimit.TooDeep(tokens, MaxDepth); tk != nil {
		line, col := tokenPos(tk)
		return nil, fail(line, col, "nesting is deeper than %d levels", MaxDepth)
	}
	f, err := parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			line, col := tokenPos(yerr.GetToken())
			return nil, fail(line, col, "invalid YAML: %s", yerr.GetMessage())
		}
		return nil, fail(0, 0, "invalid YAML: %v", err)
	}
	var body ast.Node
	seen := false
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if seen {
			line, col := position(doc.Body)
			return nil, fail(line, col, "only one YAML document is allowed")
		}
		seen, body = true, doc.Body
	}
	if body != nil {
		if n := deepNode(body, 1); n != nil {
			line, col := position(n)
			return nil, fail(line, col, "nesting is deeper than %d levels", MaxDepth)
		}
	}
	return body, nil
}

// deepNode returns a node nested deeper than MaxDepth, or nil.
func deepNode(n ast.Node, depth int) ast.Node {
	var children []ast.Node
	switch v := n.(type) {
	case *ast.MappingNode:
		for _, mv := range v.Values {
			children = append(children, mv.Value)
		}
	case *ast.MappingValueNode:
		children = append(children, v.Value)
	case *ast.SequenceNode:
		children = v.Values
	case *ast.AnchorNode:
		return deepNode(v.Value, depth)
	case *ast.TagNode:
		return deepNode(v.Value, depth)
	default:
		return nil
	}
	if depth > MaxDepth {
		return n
	}
	for _, c := range children {
		if c == nil {
			continue
		}
		if deep := deepNode(c, depth+1); deep != nil {
			return deep
		}
	}
	return nil
}

func tokenPos(tk *token.Token) (line, col int) {
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// position is where a node starts. A block mapping's own token is the ':'
// after its first key, so it is placed at that key instead.
func position(n ast.Node) (line, col int) {
	switch v := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 {
			return position(v.Values[0])
		}
	case *ast.MappingValueNode:
		if v.Key != nil {
			return position(v.Key)
		}
	}
	return tokenPos(n.GetToken())
}

// invalidUTF8 returns the position of the first byte that is not UTF-8.
func invalidUTF8(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return line, col
}

// decoder turns the YAML tree into a Config, collecting every error on the
// way instead of stopping at the first.
type decoder struct {
	file string
	errs Errors

	// Kept for the checks across builds.
	names   []ast.Node   // name node of each build, nil if it has none
	depends [][]ast.Node // depends_on entry nodes of each build
}

func (d *decoder) errorf(n ast.Node, field, format string, args ...any) {
	line, col := position(n)
	d.errs = append(d.errs, Error{File: d.file, Line: line, Column: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// join appends a key to a field path: "builds[0]" + "port".
func join(path, key string) string {
	quoted := key == ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			quoted = true
			break
		}
	}
	switch {
	case quoted:
		return path + "[" + strconv.Quote(clip(key)) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// clip shortens s for an error message, so a huge value does not make a
// huge message.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func quote(s string) string { return strconv.Quote(clip(s)) }

// describe names a node's kind and, for scalars, its value, for "got …" in
// messages.
func describe(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.StringNode:
		return "string " + quote(v.Value)
	case *ast.LiteralNode:
		return "string " + quote(v.Value.Value)
	case *ast.IntegerNode:
		return "integer " + clip(v.Token.Value)
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "number " + clip(n.GetToken().Value)
	case *ast.BoolNode:
		return "boolean " + v.Token.Value
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return strings.ToLower(n.Type().String())
}

// kind is describe without the value, for values that may be secret.
func kind(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return strings.ToLower(n.Type().String())
}

// unwrap reports YAML features .mainline.yaml refuses: aliases (a small
// file can expand to a huge one through them), anchors (useless without
// aliases) and tags. It returns nil for those.
func (d *decoder) unwrap(n ast.Node, field string) ast.Node {
	switch v := n.(type) {
	case *ast.AliasNode:
		d.errorf(v, field, "YAML aliases (*name) are not allowed")
		return nil
	case *ast.AnchorNode:
		d.errorf(v, field, "YAML anchors (&name) are not allowed")
		return nil
	case *ast.TagNode:
		d.errorf(v, field, "YAML tags (%s) are not allowed", clip(v.Start.Value))
		return nil
	}
	return n
}

// pair is one key and value of a mapping.
type pair struct {
	key   string
	keyN  ast.Node
	value ast.Node
	field string
}

// pairs returns the entries of a mapping, reporting keys that are not plain
// strings and keys given twice. ok is false when n is not a mapping.
func (d *decoder) pairs(n ast.Node, field string) (ps []pair, ok bool) {
	var values []*ast.MappingValueNode
	switch v := d.unwrap(n, field).(type) {
	case nil:
		if n == nil {
			d.errorf(n, field, "must be a mapping, got null")
		}
		return nil, false
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		d.errorf(n, field, "must be a mapping, got %s", describe(n))
		return nil, false
	}
	first := map[string]int{}
	for _, mv := range values {
		key, ok := mv.Key.(*ast.StringNode)
		if !ok {
			switch k := mv.Key.(type) {
			case *ast.MergeKeyNode:
				d.errorf(k, field, "merge keys (<<) are not allowed")
			case *ast.AliasNode, *ast.AnchorNode, *ast.TagNode:
				d.unwrap(k, field)
			default:
				d.errorf(mv.Key, field, "keys must be strings, got %s", describe(mv.Key))
			}
			continue
		}
		p := pair{key: key.Value, keyN: key, value: mv.Value, field: join(field, key.Value)}
		if line, dup := first[p.key]; dup {
			d.errorf(key, p.field, "set twice (first on line %d)", line)
			continue
		}
		first[p.key], _ = position(key)
		ps = append(ps, p)
	}
	return ps, true
}

// fields is pairs for a mapping with a fixed set of keys: it reports
// unknown keys and returns the known ones by name.
func (d *decoder) fields(n ast.Node, field string, known ...string) (map[string]pair, bool) {
	ps, ok := d.pairs(n, field)
	if !ok {
		return nil, false
	}
	m := make(map[string]pair, len(ps))
	for _, p := range ps {
		if !slices.Contains(known, p.key) {
			if s := suggest(p.key, known); s != "" {
				d.errorf(p.keyN, p.field, "unknown field (did you mean %s?)", s)
			} else {
				d.errorf(p.keyN, p.field, "unknown field (expected one of %s)", strings.Join(known, ", "))
			}
			continue
		}
		m[p.key] = p
	}
	return m, true
}

// suggest returns the known key closest to a misspelt one, or "".
func suggest(key string, known []string) string {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' || r == '-' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	best, bestDist := "", 3
	for _, k := range known {
		if norm(k) == norm(key) {
			return k
		}
		if d := distance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, capped for long
// keys since only small distances matter.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) str(p pair) (string, bool) {
	switch v := d.unwrap(p.value, p.field).(type) {
	case nil:
		if p.value == nil {
			d.errorf(p.keyN, p.field, "must be a string, got null")
		}
		return "", false
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	default:
		d.errorf(v, p.field, "must be a string, got %s", describe(v))
		return "", false
	}
}

// integer reads an int in [lo, hi]. Errors say "must be ≥ lo" or "must be
// ≤ hi", or rangeMsg when it is set.
func (d *decoder) integer(p pair, lo, hi int, rangeMsg string) (int, bool) {
	outOfRange := func(n ast.Node, text string, tooLow bool) {
		msg := rangeMsg
		switch {
		case msg != "":
		case tooLow:
			msg = fmt.Sprintf("must be ≥ %d", lo)
		default:
			msg = fmt.Sprintf("must be ≤ %d", hi)
		}
		d.errorf(n, p.field, "%s, got %s", msg, clip(text))
	}
	n := d.unwrap(p.value, p.field)
	switch v := n.(type) {
	case nil:
		if p.value == nil {
			d.errorf(p.keyN, p.field, "must be an integer, got null")
		}
		return 0, false
	case *ast.IntegerNode:
		var i int64
		switch x := v.Value.(type) {
		case int64:
			i = x
		case uint64:
			i = int64(min(x, 1<<62))
		}
		if i < int64(lo) || i > int64(hi) {
			outOfRange(v, v.Token.Value, i < int64(lo))
			return 0, false
		}
		return int(i), true
	case *ast.StringNode:
		// The parser leaves integers too big for 64 bits as strings.
		if s := strings.TrimPrefix(v.Value, "-"); s != "" && strings.Trim(s, "0123456789") == "" && v.Token.Type != token.DoubleQuoteType && v.Token.Type != token.SingleQuoteType {
			outOfRange(v, v.Value, strings.HasPrefix(v.Value, "-"))
			return 0, false
		}
	}
	d.errorf(n, p.field, "must be an integer, got %s", describe(n))
	return 0, false
}

func (d *decoder) boolean(p pair) (bool, bool) {
	n := d.unwrap(p.value, p.field)
	switch v := n.(type) {
	case nil:
		if p.value == nil {
			d.errorf(p.keyN, p.field, "must be true or false, got null")
		}
		return false, false
	case *ast.BoolNode:
		return v.Value, true
	}
	d.errorf(n, p.field, "must be true or false, got %s", describe(n))
	return false, false
}

// duration reads a Duration of at least min.
func (d *decoder) duration(p pair, min Duration) (Duration, bool) {
	n := d.unwrap(p.value, p.field)
	s, ok := n.(*ast.StringNode)
	if !ok {
		switch {
		case n != nil:
			d.errorf(n, p.field, `must be a duration such as "2s" or "500ms", got %s`, describe(n))
		case p.value == nil:
			d.errorf(p.keyN, p.field, `must be a duration such as "2s" or "500ms", got null`)
		}
		return 0, false
	}
	v, err := parseDuration(s.Value)
	if err != nil {
		d.errorf(s, p.field, `must be a duration such as "2s" or "500ms", got %s`, describe(s))
		return 0, false
	}
	if v < min {
		if min == 0 {
			d.errorf(s, p.field, "must not be negative, got %s", s.Value)
		} else {
			d.errorf(s, p.field, "must be at least %s, got %s", min, s.Value)
		}
		return 0, false
	}
	return v, true
}

// list returns the entries of a list.
func (d *decoder) list(p pair) ([]ast.Node, bool) {
	n := d.unwrap(p.value, p.field)
	switch v := n.(type) {
	case nil:
		if p.value == nil {
			d.errorf(p.keyN, p.field, "must be a list, got null")
		}
		return nil, false
	case *ast.SequenceNode:
		return v.Values, true
	}
	d.errorf(n, p.field, "must be a list, got %s", describe(n))
	return nil, false
}

// strings reads a list of strings, calling check on each to validate it.
// Entries given twice are reported.
func (d *decoder) strings(p pair, check func(n ast.Node, field, s string) bool) ([]string, []ast.Node, bool) {
	items, ok := d.list(p)
	if !ok {
		return nil, nil, false
	}
	out := make([]string, 0, len(items))
	nodes := make([]ast.Node, 0, len(items))
	ok = true
	for i, item := range items {
		s, good := d.str(pair{keyN: p.keyN, value: item, field: index(p.field, i)})
		if !good {
			ok = false
			continue
		}
		if slices.Contains(out, s) {
			d.errorf(item, index(p.field, i), "%s is listed twice", quote(s))
			ok = false
			continue
		}
		if check != nil && !check(item, index(p.field, i), s) {
			ok = false
			continue
		}
		out = append(out, s)
		nodes = append(nodes, item)
	}
	return out, nodes, ok
}
