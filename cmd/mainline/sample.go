package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// sampleFS is the demo's sample service: an orders API with a health
// endpoint, a FROM scratch Dockerfile, its .mainline.yaml and a
// verification suite. Files that would mean something to the go tool or
// to git in this repository carry a .tmpl suffix and are renamed when
// written out.
//
//go:embed all:sample
var sampleFS embed.FS

// sampleNames maps embedded names to the names written out.
var sampleNames = map[string]string{
	"main.go.tmpl":       "main.go",
	"go.mod.tmpl":        "go.mod",
	"dockerignore.tmpl":  ".dockerignore",
	"mainline.yaml.tmpl": ".mainline.yaml",
}

// writeSample writes the sample service into dir, with its go.sum and
// vendor/ (see writeSampleDeps).
func writeSample(dir string) error {
	err := fs.WalkDir(sampleFS, "sample", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(path, "sample/")
		if n, ok := sampleNames[rel]; ok {
			rel = n
		}
		data, err := sampleFS.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("write sample: %w", err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return fmt.Errorf("write sample: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeSampleDeps(dir)
}
