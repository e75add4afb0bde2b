package config_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mainline-cd/mainline/deploy/config"
)

// FuzzParse checks that Parse never panics and always returns exactly one
// of a config or a non-empty config.Errors, and that a config it returns
// holds only values it promises to hold. Seeds are in
// testdata/fuzz/FuzzParse, plus the design example and the bad files.
func FuzzParse(f *testing.F) {
	f.Add([]byte(design))
	for _, tc := range badFiles {
		if len(tc.src) < 4096 {
			f.Add([]byte(tc.src))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("f.yaml", data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v; want exactly one", cfg, err)
		}
		if err != nil {
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse error %v (%T) is not a non-empty config.Errors", err, err)
			}
			for _, e := range errs {
				if e.File != "f.yaml" || e.Msg == "" || e.Line < 0 || e.Column < 0 {
					t.Fatalf("malformed error %+v", e)
				}
			}
			return
		}
		names := map[string]bool{}
		for _, b := range cfg.Builds {
			if b.Name == "" || names[b.Name] {
				t.Fatalf("build name %q empty or repeated", b.Name)
			}
			names[b.Name] = true
			if (b.Dockerfile == "") == (b.Image == "") {
				t.Fatalf("build %q: dockerfile %q, image %q; want exactly one", b.Name, b.Dockerfile, b.Image)
			}
			if b.Port < 1 || b.Port > 65535 || b.Instances < 0 || b.Health.Threshold < 1 ||
				b.Rollout.MaxSurge+b.Rollout.MaxUnavailable == 0 || b.Health.Path == "" || b.Health.Path[0] != '/' {
				t.Fatalf("build %q has impossible values: %+v", b.Name, b)
			}
		}
		for _, b := range cfg.Builds {
			for _, dep := range b.DependsOn {
				if !names[dep] || dep == b.Name {
					t.Fatalf("build %q depends on %q", b.Name, dep)
				}
			}
		}
		again, err := config.Parse("f.yaml", data)
		if err != nil || !reflect.DeepEqual(cfg, again) {
			t.Fatalf("second Parse differs: %+v, %v", again, err)
		}
	})
}

// BenchmarkParse measures the design example and the worst files the
// limits let through: as many distinct keys and as deep a nesting as
// allowed.
func BenchmarkParse(b *testing.B) {
	var keys strings.Builder
	for i := range config.MaxTokens/3 - 1 { // key, ':' and value
		fmt.Fprintf(&keys, "k%d: v\n", i)
	}
	inputs := []struct{ name, src string }{
		{"design", design},
		{"many-keys", keys.String()},
		{"deep", strings.Repeat("[", config.MaxDepth) + strings.Repeat("]", config.MaxDepth)},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			data := []byte(in.src)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = config.Parse(".mainline.yaml", data)
			}
		})
	}
}
