package controller_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/controller/store/storetest"
	"github.com/mainline-cd/mainline/providers"
	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/providers/docker/dockertest"
	"github.com/mainline-cd/mainline/providers/gitlocal"
)

const benchConfig = `builds:
  - name: api
    dockerfile: Dockerfile
    instances: 2
    port: 8080
    health: { path: /healthz, interval: 100ms }
    rollout: { max_surge: 1, max_unavailable: 0 }
`

// BenchmarkRollout times a 2 → 2 rolling deploy on the Docker Engine, from
// the desired state changing to the last state equalling it, beside the
// floor measured in the same run: starting one container until it passes
// its first health checks, times the two start-and-wait steps the plan
// needs with max_surge 1 and max_unavailable 0. ratio = rollout / floor.
func BenchmarkRollout(b *testing.B) {
	ctx := context.Background()
	cli := dockertest.Client(b)
	labels := dockertest.Labels(b)
	dockertest.Cleanup(b, cli, dockertest.RunLabel(labels))
	imgs := map[string]string{
		"0.0.1": dockertest.SampleImage(b, cli, dockertest.SampleOptions{Version: "0.0.1"}),
		"0.0.2": dockertest.SampleImage(b, cli, dockertest.SampleOptions{Version: "0.0.2"}),
	}
	cluster, err := docker.NewCluster(docker.ClusterConfig{Client: cli, Labels: labels,
		Health: docker.HealthConfig{Interval: 100 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cluster.Close(context.Background()) })

	st := storetest.SQLite(b)
	repo := newGitRepo(b, "main", map[string]string{".mainline.yaml": benchConfig})
	p, err := st.CreateProject(ctx, store.Project{Name: "bench", SCM: "git", Location: repo.Bare})
	if err != nil {
		b.Fatal(err)
	}
	for v, img := range imgs {
		if err := st.PutBuild(ctx, store.Build{ProjectID: p.ID, Name: "api", Version: v, Status: store.BuildSucceeded,
			Image: img, Digest: "sha256:bench", StartedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	c := &controller.Controller{Store: st, Resync: time.Hour, Providers: controller.Providers{
		SCM:     func(_ context.Context, p store.Project) (providers.SCM, error) { return gitlocal.Open(p.Location) },
		Cluster: cluster,
	}}
	// converge reconciles until the build runs version ×2 and nothing else.
	converge := func(version string) {
		for {
			if _, err := c.Reconcile(ctx, p.ID); err != nil {
				b.Fatal(err)
			}
			l, err := st.Last(ctx, p.ID, "api")
			if err == nil && maps.Equal(l.Versions, map[string]int{version: 2}) {
				insts, _ := cluster.Instances(ctx, p.Name, "api")
				if len(insts) == 2 {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pin := func(v string) {
		p.Pinned = v
		if err := st.UpdateProject(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	pin("0.0.1")
	converge("0.0.1")

	var rollout, floor time.Duration
	next := "0.0.2"
	for b.Loop() {
		start := time.Now()
		pin(next)
		converge(next)
		rollout += time.Since(start)

		b.StopTimer()
		start = time.Now()
		inst, err := cluster.Start(ctx, providers.InstanceSpec{Project: "floor", Build: "api", Version: next, Image: imgs[next],
			Port: dockertest.SamplePort, HealthPath: dockertest.SampleHealthPath, HealthTimeout: 2 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		for {
			insts, err := cluster.Instances(ctx, "floor", "api")
			if err != nil {
				b.Fatal(err)
			}
			if len(insts) == 1 && insts[0].State == providers.InstanceHealthy {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		floor += 2 * time.Since(start) // the plan needs two start-and-wait steps
		if err := cluster.Stop(ctx, inst.ID); err != nil {
			b.Fatal(err)
		}
		if next == "0.0.2" {
			next = "0.0.1"
		} else {
			next = "0.0.2"
		}
		b.StartTimer()
	}
	b.ReportMetric(rollout.Seconds()/float64(b.N), "rollout-s")
	b.ReportMetric(floor.Seconds()/float64(b.N), "floor-s")
	b.ReportMetric(float64(rollout)/float64(floor), "ratio")
}
