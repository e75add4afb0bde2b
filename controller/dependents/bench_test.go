package dependents_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/dependents"
	"github.com/mainline-cd/mainline/controller/dependents/proxytest"
	"github.com/mainline-cd/mainline/providers/goproxy"
)

// Sizes of BenchmarkFindUpgrades: 200 go.mod files of 30 requirements each,
// drawn from 120 modules of 5 versions, so they overlap as the services of
// one company do.
const (
	benchFiles    = 200
	benchRequires = 30
	benchModules  = 120
	benchVersions = 5
	// benchGoListSample is how many of the files the go list baseline runs
	// on; its time is scaled to all of them, so -benchtime 1x stays fast.
	benchGoListSample = 5
)

// BenchmarkFindUpgrades compares finding the upgrades of 200 go.mod files
// through one shared goproxy.Index (a fresh, empty cache each iteration)
// with `go list -m -u -json all` run per module against the same proxy
// over HTTP. Both report ns/200gomod; the go list figure is measured on
// benchGoListSample modules and scaled. The speedup sub-benchmark reports
// the ratio.
func BenchmarkFindUpgrades(b *testing.B) {
	var mods []proxytest.Module
	for m := range benchModules {
		for v := range benchVersions {
			mods = append(mods, proxytest.Module{
				Path:    fmt.Sprintf("example.com/m%03d", m),
				Version: fmt.Sprintf("v1.%d.0", v),
				Files:   map[string]string{"m.go": fmt.Sprintf("package m%03d\n", m)},
			})
		}
	}
	px := proxytest.New(b, mods...)
	rng := rand.New(rand.NewPCG(1, 2))
	files := make([][]byte, benchFiles)
	for i := range files {
		var sb strings.Builder
		fmt.Fprintf(&sb, "module example.com/svc%03d\n\ngo 1.22\n\nrequire (\n", i)
		for _, m := range rng.Perm(benchModules)[:benchRequires] {
			fmt.Fprintf(&sb, "\texample.com/m%03d v1.%d.0\n", m, rng.IntN(benchVersions-1))
		}
		sb.WriteString(")\n")
		files[i] = []byte(sb.String())
	}
	policy := dependents.Policy{Updates: []string{"patch", "minor"}, Now: time.Now()}

	var mainline, goList float64 // ns per 200 go.mod files
	b.Run("mainline", func(b *testing.B) {
		ctx := context.Background()
		before := px.Requests()
		found := 0
		for b.Loop() {
			index, err := goproxy.New(goproxy.Config{Proxy: px.URL})
			if err != nil {
				b.Fatal(err)
			}
			f := dependents.Finder{Index: index}
			for _, data := range files {
				ups, _, err := f.GoModule(ctx, data, policy)
				if err != nil {
					b.Fatal(err)
				}
				found += len(ups)
			}
		}
		if found == 0 {
			b.Fatal("no upgrades found")
		}
		mainline = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(mainline, "ns/200gomod")
		b.ReportMetric(float64(px.Requests()-before)/float64(b.N), "requests/op")
	})
	b.Run("go-list", func(b *testing.B) {
		dirs := make([]string, benchGoListSample)
		for i := range dirs {
			dirs[i] = b.TempDir()
			if err := os.WriteFile(filepath.Join(dirs[i], "go.mod"), files[i], 0o644); err != nil {
				b.Fatal(err)
			}
		}
		env := append(os.Environ(), px.Env()...)
		env = append(env, "GOPROXY="+px.URL) // over HTTP, as Mainline asks
		listAll := func(dir string) {
			cmd := exec.Command("go", "list", "-m", "-u", "-json", "all")
			cmd.Dir = dir
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("go list: %v\n%s", err, out)
			}
		}
		listAll(dirs[0]) // warm the module cache: only lookups are measured
		b.ResetTimer()
		for b.Loop() {
			for _, dir := range dirs {
				listAll(dir)
			}
		}
		goList = float64(b.Elapsed().Nanoseconds()) / float64(b.N) * benchFiles / benchGoListSample
		b.ReportMetric(goList, "ns/200gomod")
	})
	// The ratio, as a metric of its own so it shows in the benchmark output.
	b.Run("speedup", func(b *testing.B) {
		for b.Loop() {
		}
		if mainline == 0 || goList == 0 {
			b.Skip("run with the mainline and go-list sub-benchmarks")
		}
		b.ReportMetric(goList/mainline, "x-faster-than-go-list")
	})
}
