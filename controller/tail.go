package controller

import (
	"strings"
	"sync"
)

// tailWriter is an io.Writer that keeps the last n lines written to it,
// for build logs: enough to say why a build failed without keeping
// megabytes of compiler output.
type tailWriter struct {
	mu      sync.Mutex
	n       int
	writes  int // grows on every Write, so readers can tell it changed
	lines   []string
	partial strings.Builder
}

func newTailWriter(n int) *tailWriter { return &tailWriter{n: n} }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	s := string(p)
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			w.partial.WriteString(s)
			break
		}
		w.partial.WriteString(s[:i])
		w.lines = append(w.lines, w.partial.String())
		w.partial.Reset()
		if len(w.lines) > w.n {
			w.lines = w.lines[len(w.lines)-w.n:]
		}
		s = s[i+1:]
	}
	return len(p), nil
}

// Tail returns the last k lines.
func (w *tailWriter) Tail(k int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.all()
	if len(lines) > k {
		lines = lines[len(lines)-k:]
	}
	return strings.Join(lines, "\n")
}

// String returns every kept line.
func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.all(), "\n")
}

func (w *tailWriter) all() []string {
	lines := w.lines
	if w.partial.Len() > 0 {
		lines = append(lines[:len(lines):len(lines)], w.partial.String())
	}
	return lines
}

// Changed returns every kept line and whether anything was written since
// the count last returned (pass 0 the first time).
func (w *tailWriter) Changed(since int) (text string, writes int, changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.all(), "\n"), w.writes, w.writes != since
}
