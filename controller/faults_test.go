package controller_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/faults"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

const faultConfig = `builds:
  - name: api
    dockerfile: Dockerfile
`

// emptyRegistry has no image, so every build is built.
type emptyRegistry struct{}

func (emptyRegistry) Digest(_ context.Context, image string) (string, error) {
	return "", fmt.Errorf("%s: %w", image, providers.ErrNotFound)
}

// TestFaults breaks each provider in turn — it fails, hangs, throttles,
// or acts and loses its answer — for one project (alpha) of two, while
// both get a new commit. With a single worker, beta must still deploy
// every commit (a hung call is cut off by its timeout, so nothing wedges);
// alpha must not deploy while a provider it cannot do without is broken,
// must deploy anyway when the broken one is only the registry lookup or
// the notifier, and must deploy once the fault clears. At the end neither
// repository has a duplicate tag and alpha runs exactly one instance.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("about 30 s of fault rounds")
	}
	ctx := context.Background()
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer svc.Close()
	st := storetest.SQLite(t)
	repos := map[string]*gitRepo{
		"alpha": newGitRepo(t, "main", map[string]string{".mainline.yaml": faultConfig}),
		"beta":  newGitRepo(t, "main", map[string]string{".mainline.yaml": faultConfig}),
	}
	alpha, beta := addProject(t, st, "alpha", repos["alpha"].Bare), addProject(t, st, "beta", repos["beta"].Bare)
	plan := &faults.Plan{}
	cluster := newMemCluster(svc.URL)
	const timeout = 200 * time.Millisecond
	c := &controller.Controller{
		Store: st,
		Providers: controller.Providers{
			SCM: func(_ context.Context, p store.Project) (providers.SCM, error) {
				s, err := gitlocal.Open(p.Location)
				if err != nil {
					return nil, err
				}
				return faults.SCM(s, p.Name, plan), nil
			},
			Builder:  faults.Builder(&fakeBuilder{}, plan),
			Registry: faults.Registry(emptyRegistry{}, plan),
			Cluster:  faults.Cluster(cluster, plan),
			Notifier: faults.Notifier(&recordingNotifier{}, plan),
		},
		Resync:   time.Hour,
		Workers:  1,
		Timeouts: controller.Timeouts{SCM: timeout, Registry: timeout, Cluster: timeout, Notifier: timeout, Build: timeout},
	}
	runController(t, c)

	running := func(p store.Project, version string) func() bool {
		return func() bool {
			l, err := st.Last(ctx, p.ID, "api")
			return err == nil && maps.Equal(l.Versions, map[string]int{version: 1})
		}
	}
	eventually(t, "alpha and beta at 0.0.1", func() bool { return running(alpha, "0.0.1")() && running(beta, "0.0.1")() })

	unavailable := fmt.Errorf("connection refused: %w", providers.ErrUnavailable)
	rounds := []struct {
		method   string // what breaks
		fault    faults.Fault
		blocking bool // alpha cannot deploy while it is broken
	}{
		{"SCM.*", faults.Fault{Kind: faults.Fail}, true},
		{"SCM.*", faults.Fault{Kind: faults.Hang}, true},
		{"SCM.*", faults.Fault{Kind: faults.Throttle, Delay: time.Minute}, true},
		{"SCM.CreateTag", faults.Fault{Kind: faults.Lose}, true},
		{"Builder.*", faults.Fault{Kind: faults.Fail, Err: unavailable}, true},
		{"Builder.*", faults.Fault{Kind: faults.Hang}, true},
		{"Builder.*", faults.Fault{Kind: faults.Throttle, Delay: time.Minute}, true},
		{"Registry.*", faults.Fault{Kind: faults.Fail}, false},
		{"Registry.*", faults.Fault{Kind: faults.Hang}, false},
		{"Registry.*", faults.Fault{Kind: faults.Throttle, Delay: time.Minute}, false},
		{"Cluster.*", faults.Fault{Kind: faults.Fail}, true},
		{"Cluster.*", faults.Fault{Kind: faults.Hang}, true},
		{"Cluster.*", faults.Fault{Kind: faults.Throttle, Delay: time.Minute}, true},
		{"Cluster.Start", faults.Fault{Kind: faults.Lose}, true},
		{"Notifier.*", faults.Fault{Kind: faults.Fail}, false},
		{"Notifier.*", faults.Fault{Kind: faults.Hang}, false},
		{"Notifier.*", faults.Fault{Kind: faults.Throttle, Delay: time.Minute}, false},
	}
	for i, round := range rounds {
		version := fmt.Sprintf("0.0.%d", i+2)
		t.Run(strings.TrimSuffix(round.method, ".*")+"/"+round.fault.Kind.String(), func(t *testing.T) {
			f := round.fault
			f.Project = "alpha"
			if round.method == "Registry.*" {
				f.Project = "" // a registry lookup names no project: break it for both
			}
			if f.Kind == faults.Lose {
				f.Times = 1 // the call is made; its answer is lost once
			}
			plan.Inject(round.method, f)
			hits := plan.Hits(round.method)
			for name, repo := range repos {
				repo.Commit(name+" "+version, nil)
			}
			c.Wake(beta.ID)
			c.Wake(alpha.ID)
			eventually(t, "beta at "+version, running(beta, version))
			eventually(t, round.method+" hit", func() bool { return plan.Hits(round.method) > hits })
			if round.blocking && f.Times == 0 {
				if running(alpha, version)() {
					t.Errorf("alpha deployed %s while %s was broken", version, round.method)
				}
				if s, _ := c.Status(alpha.ID); s.Result != "error" {
					t.Errorf("alpha status = %+v, want an error", s)
				}
			}
			if !round.blocking {
				eventually(t, "alpha at "+version+" despite the fault", running(alpha, version))
			}
			plan.Clear(round.method)
			c.Wake(alpha.ID) // as a webhook would; the back-off would get there too
			eventually(t, "alpha at "+version+" after the fault cleared", running(alpha, version))
			b, err := st.Build(ctx, alpha.ID, "api", version)
			if err != nil || b.Status != store.BuildSucceeded {
				t.Errorf("alpha's build of %s = %+v, %v; want succeeded", version, b, err)
			}
		})
	}

	last := fmt.Sprintf("0.0.%d", len(rounds)+1)
	for name, repo := range repos {
		tags := repo.Tags()
		shas := map[string]bool{}
		for _, tag := range tags {
			_, sha, _ := strings.Cut(tag, " ")
			if shas[sha] {
				t.Errorf("%s: two tags on commit %s: %v", name, sha, tags)
			}
			shas[sha] = true
		}
		if len(tags) != len(rounds)+1 {
			t.Errorf("%s has %d tags, want %d: %v", name, len(tags), len(rounds)+1, tags)
		}
	}
	insts, _ := cluster.Instances(ctx, "alpha", "api")
	if len(insts) != 1 || insts[0].Version != last {
		t.Errorf("alpha runs %v, want one instance of %s", insts, last)
	}
}
