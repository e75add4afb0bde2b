package deploy

import (
	"testing"
	"time"
)

func TestPreviousGood(t *testing.T) {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	history := []Release{
		{"0.3.16", at(40)}, // newest first, but order does not matter
		{"0.3.14", at(20)},
		{"0.3.15", at(30)},
		{"0.3.12", at(10)},
		{"0.3.13", at(15)},
	}
	tests := []struct {
		name     string
		history  []Release
		rejected []string
		current  string
		want     string
		wantOK   bool
	}{
		{"new version that never was good", history, nil, "0.3.17", "0.3.16", true},
		{"good version failing later goes to the one before", history, nil, "0.3.16", "0.3.15", true},
		{"rejected versions are skipped", history, []string{"0.3.16", "0.3.15"}, "0.3.17", "0.3.14", true},
		{"after a rollback, a failure goes further back, not forward", history, []string{"0.3.16"}, "0.3.15", "0.3.14", true},
		{"newer good versions are not older", history, nil, "0.3.13", "0.3.12", true},
		{"nothing older", history, nil, "0.3.12", "", false},
		{"everything rejected", history, []string{"0.3.12", "0.3.13", "0.3.14", "0.3.15", "0.3.16"}, "0.3.17", "", false},
		{"empty history", nil, nil, "0.0.1", "", false},
		{"prefix does not matter", []Release{{"v0.3.14", at(1)}, {"0.3.15", at(2)}}, nil, "v0.3.15", "v0.3.14", true},
		{"the same release under another spelling is not older", []Release{{"v0.3.15", at(1)}}, nil, "0.3.15", "", false},
		{
			name:    "a newest good version not a semver is chosen by time",
			history: []Release{{"sha-aaa", at(1)}, {"sha-bbb", at(2)}, {"sha-ccc", at(3)}},
			current: "sha-ccc",
			want:    "sha-bbb", wantOK: true,
		},
		{
			name:    "not versions, current never good",
			history: []Release{{"sha-aaa", at(1)}, {"sha-bbb", at(2)}},
			current: "sha-ddd",
			want:    "sha-bbb", wantOK: true,
		},
		{
			name:    "a version preferred to a name that is not one",
			history: []Release{{"0.1.0", at(1)}, {"latest", at(2)}},
			current: "sha-ddd",
			want:    "0.1.0", wantOK: true,
		},
		{
			name:     "repeated version uses its latest time",
			history:  []Release{{"sha-aaa", at(1)}, {"sha-bbb", at(2)}, {"sha-aaa", at(3)}, {"sha-ccc", at(4)}},
			rejected: []string{"sha-ccc"},
			current:  "sha-aaa",
			want:     "sha-bbb", wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected := make(map[string]bool)
			for _, v := range tt.rejected {
				rejected[v] = true
			}
			got, ok := PreviousGood(tt.history, rejected, tt.current)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("PreviousGood(current %q) = %q, %v; want %q, %v", tt.current, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
