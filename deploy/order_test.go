package deploy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBuildOrder(t *testing.T) {
	tests := []struct {
		name string
		deps map[string][]string
		want [][]string
	}{
		{"none", nil, nil},
		{"one", map[string][]string{"api": nil}, [][]string{{"api"}}},
		{
			name: "independent builds share a wave, sorted",
			deps: map[string][]string{"www": nil, "api": {}, "worker": nil},
			want: [][]string{{"api", "worker", "www"}},
		},
		{
			name: "chain",
			deps: map[string][]string{"www": {"api"}, "api": {"db"}, "db": nil},
			want: [][]string{{"db"}, {"api"}, {"www"}},
		},
		{
			name: "diamond waits for its deepest dependency",
			deps: map[string][]string{
				"db": nil, "cache": nil,
				"api": {"db"}, "search": {"db", "cache"},
				"www": {"search", "api"},
			},
			want: [][]string{{"cache", "db"}, {"api", "search"}, {"www"}},
		},
		{
			name: "a build waits for its slowest dependency",
			deps: map[string][]string{"a": nil, "b": {"a"}, "c": {"b"}, "d": {"a", "c"}},
			want: [][]string{{"a"}, {"b"}, {"c"}, {"d"}},
		},
		{
			name: "repeated dependency counts once",
			deps: map[string][]string{"api": nil, "www": {"api", "api"}},
			want: [][]string{{"api"}, {"www"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildOrder(tt.deps)
			if err != nil {
				t.Fatalf("BuildOrder() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BuildOrder() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBuildOrderCycle(t *testing.T) {
	tests := []struct {
		name string
		deps map[string][]string
		want []string
	}{
		{"self", map[string][]string{"api": {"api"}}, []string{"api", "api"}},
		{"two", map[string][]string{"www": {"api"}, "api": {"www"}}, []string{"api", "www", "api"}},
		{
			name: "three, behind a build that only depends on it",
			deps: map[string][]string{
				"admin": {"x"}, "x": {"y"}, "y": {"z"}, "z": {"x"}, "db": nil,
			},
			want: []string{"x", "y", "z", "x"},
		},
		{
			name: "named from its smallest build",
			deps: map[string][]string{"c": {"a"}, "a": {"b"}, "b": {"c"}},
			want: []string{"a", "b", "c", "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waves, err := BuildOrder(tt.deps)
			var cerr *CycleError
			if !errors.As(err, &cerr) {
				t.Fatalf("BuildOrder() = %v, %v; want a *CycleError", waves, err)
			}
			if !reflect.DeepEqual(cerr.Cycle, tt.want) {
				t.Errorf("Cycle = %v, want %v", cerr.Cycle, tt.want)
			}
			if want := strings.Join(tt.want, " → "); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name the cycle %q", err, want)
			}
		})
	}
}

func TestBuildOrderUnknownDependency(t *testing.T) {
	_, err := BuildOrder(map[string][]string{"www": {"apii"}, "api": nil})
	if err == nil || !strings.Contains(err.Error(), "www depends on apii") {
		t.Errorf("BuildOrder() error = %v, want one naming www and apii", err)
	}
}

func TestReady(t *testing.T) {
	deps := map[string][]string{
		"db": nil, "cache": nil,
		"api":    {"db"},
		"search": {"cache", "db"},
		"www":    {"search", "api"},
		"x":      {"y"}, "y": {"x"},
	}
	tests := []struct {
		name   string
		build  string
		inSync []string
		want   string
		wantOK bool
	}{
		{"no dependencies", "db", nil, "", true},
		{"not in the map", "other", nil, "", true},
		{"dependency in sync", "api", []string{"db"}, "", true},
		{"dependency rolling", "api", nil, "db", false},
		{"all in sync", "www", []string{"db", "cache", "api", "search"}, "", true},
		{"deepest first", "www", []string{"api", "search"}, "db", false},
		{"direct dependency rolling", "www", []string{"db", "cache", "search"}, "api", false},
		{"indirect dependency rolling", "www", []string{"db", "api", "search"}, "cache", false},
		{"whether the build itself is in sync does not matter", "api", []string{"db", "api"}, "", true},
		{"cycle ends", "x", nil, "y", false},
		{"cycle in sync", "x", []string{"x", "y"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make(map[string]bool)
			for _, b := range tt.inSync {
				in[b] = true
			}
			got, ok := Ready(tt.build, deps, func(b string) bool { return in[b] })
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Ready(%q) = %q, %v; want %q, %v", tt.build, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
