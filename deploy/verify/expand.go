package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// envPrefix marks a reference to a secret held in the environment:
// ${env:TOKEN}.
const envPrefix = "env:"

// expand replaces every ${ref} in s with lookup(ref). "$${" stands for a
// literal "${".
func expand(s string, lookup func(ref string) (string, error)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			return "", errors.New(`unterminated "${"`)
		}
		ref := s[i+2 : i+2+j]
		if !validRef(ref) {
			return "", fmt.Errorf("bad variable ${%s}: want ${name} or ${env:NAME}, names made of letters, digits and _", ref)
		}
		v, err := lookup(ref)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		s = s[i+3+j:]
	}
}

// refs returns the references in s, or the syntax error expand would return.
func refs(s string) ([]string, error) {
	var out []string
	_, err := expand(s, func(ref string) (string, error) {
		out = append(out, ref)
		return "", nil
	})
	return out, err
}

func validRef(ref string) bool {
	return isName(strings.TrimPrefix(ref, envPrefix))
}

// isName reports whether s can name a variable: a letter or _, then
// letters, digits and _.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// expandJSON expands variables in every string (keys included) of the JSON
// document raw, keeping the order of object members.
func expandJSON(raw []byte, f func(string) (string, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var buf bytes.Buffer
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			open, close := byte(t), byte('}')
			if t == '[' {
				close = ']'
			}
			buf.WriteByte(open)
			for i := 0; dec.More(); i++ {
				if i > 0 {
					buf.WriteByte(',')
				}
				if open == '{' {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					ks, err := f(k.(string))
					if err != nil {
						return err
					}
					buf.Write(jsonString(ks))
					buf.WriteByte(':')
				}
				if err := walk(); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			buf.WriteByte(close)
		case string:
			s, err := f(t)
			if err != nil {
				return err
			}
			buf.Write(jsonString(s))
		case json.Number:
			buf.WriteString(t.String())
		case bool:
			fmt.Fprint(&buf, t)
		case nil:
			buf.WriteString("null")
		}
		return nil
	}
	if err := walk(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// expandValue expands variables in the strings of a decoded JSON value.
func expandValue(v any, f func(string) (string, error)) (any, error) {
	switch v := v.(type) {
	case string:
		return f(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			x, err := expandValue(e, f)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			x, err := expandValue(e, f)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	}
	return v, nil
}

// jsonString encodes s as a JSON string without HTML escaping, so that a
// report shows "<" rather than "\u003c".
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
