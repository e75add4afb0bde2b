package store

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestDecodeVersions checks the fast reader of the versions column against
// encoding/json, which is the reference, on what both backends write and
// on what only the slow path may read.
func TestDecodeVersions(t *testing.T) {
	for _, js := range []string{
		`{}`, ` { } `, `{"1.2.3":2}`, `{"1.2.2": 1, "1.2.3": 1}`, `{"a":0,"b":-1}`,
		`{"a":1,"a":2}`, `{"v\"q":1}`, `{"\u00fc":1}`, `{"ü":1}`, `{"a":1e2}`, `{"a":1.0}`,
		`{"a":01}`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `{"a" 1}`, `[1]`, ``, `{"a":1`, `{"a":-}`,
		`{"a":99999999999999999999}`, "{\"a\":1\n}", `null`,
	} {
		t.Run(js, func(t *testing.T) {
			got, err := decodeVersions(js)
			var want map[string]int
			wantErr := json.Unmarshal([]byte(js), &want)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("decodeVersions(%q) error %v, encoding/json says %v", js, err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("decodeVersions(%q) = %v, want %v", js, got, want)
			}
		})
	}
}

// FuzzDecodeVersions holds the fast reader to encoding/json's answers.
func FuzzDecodeVersions(f *testing.F) {
	for _, s := range []string{`{}`, `{"1.2.3":2,"1.0.0":1}`, `{"a": -3 }`, `{"a\n":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		got, err := decodeVersions(js)
		var want map[string]int
		wantErr := json.Unmarshal([]byte(js), &want)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeVersions(%q) error %v, encoding/json says %v", js, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("decodeVersions(%q) = %v, want %v", js, got, want)
		}
	})
}
