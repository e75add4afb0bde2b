package webhooks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixturesDir holds real GitHub webhook payloads, one folder per event
// (see DESIGN.md: ../shared/fixtures/github-webhooks from the repository).
const fixturesDir = "../../shared/fixtures/github-webhooks"

// fixture is one real payload: the event is its folder's name.
type fixture struct {
	Name    string // e.g. "push/with-new-branch.payload.json"
	Event   string
	Payload []byte
}

// loadFixtures reads every payload under fixturesDir.
func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixturesDir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no webhook fixtures under %s", fixturesDir)
	}
	var fs []fixture
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(fixturesDir, p)
		rel = filepath.ToSlash(rel)
		fs = append(fs, fixture{Name: rel, Event: strings.Split(rel, "/")[0], Payload: b})
	}
	return fs
}

// readFixture returns the payload at name, relative to fixturesDir.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
