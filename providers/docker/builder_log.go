package docker

import (
	"bytes"
	"io"
	"sync"
)

// tailWriter passes writes on to w and remembers the last n complete lines,
// for the log tail of a failed build. It is safe for concurrent use.
type tailWriter struct {
	mu      sync.Mutex
	w       io.Writer
	n       int
	lines   []string // ring of the last n lines
	next    int      // where the next line goes in lines
	partial []byte   // a line not yet ended by '\n'
}

func newTailWriter(w io.Writer, n int) *tailWriter {
	return &tailWriter{w: w, n: n}
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rest := p
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			t.partial = append(t.partial, rest...)
			break
		}
		t.add(string(append(t.partial, rest[:i]...)))
		t.partial = t.partial[:0]
		rest = rest[i+1:]
	}
	return t.w.Write(p)
}

func (t *tailWriter) add(line string) {
	if len(t.lines) < t.n {
		t.lines = append(t.lines, line)
		return
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % t.n
}

// Lines returns the remembered lines, oldest first, with an unfinished last
// line included.
func (t *tailWriter) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.lines)+1)
	out = append(out, t.lines[t.next:]...)
	out = append(out, t.lines[:t.next]...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	return out
}
