package dockertest_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/go-connections/nat"

	"github.com/mainline-cd/mainline/providers/docker/dockertest"
)

// TestSampleImage runs the sample image as a container and checks what the
// tests built on it rely on: "/" answers the version, /healthz answers as
// built, and Cleanup and SampleImage leave no container or image behind,
// although the image is removed while its container still runs.
func TestSampleImage(t *testing.T) {
	cli := dockertest.Client(t)
	tests := []struct {
		name       string
		opts       dockertest.SampleOptions
		env        []string
		wantHealth int
	}{
		{"healthy", dockertest.SampleOptions{Version: "0.0.7"}, nil, http.StatusOK},
		{"unhealthy", dockertest.SampleOptions{Version: "0.0.8", Unhealthy: true}, nil, http.StatusServiceUnavailable},
		{"unhealthy image, healthy env", dockertest.SampleOptions{Version: "0.0.9", Unhealthy: true}, []string{"SAMPLE_HEALTHY=true"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := dockertest.Labels(t)
			run := dockertest.RunLabel(labels)
			// Registered before the container exists; checked after it ran.
			t.Cleanup(func() {
				list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", run))})
				if err != nil {
					t.Fatal(err)
				}
				if len(list) != 0 {
					t.Errorf("after Cleanup, %d containers labelled %s remain", len(list), run)
				}
				images, err := cli.ImageList(context.Background(), image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", run))})
				if err != nil {
					t.Fatal(err)
				}
				if len(images) != 0 {
					t.Errorf("after the test, %d images labelled %s remain (tagged or dangling)", len(images), run)
				}
			})
			dockertest.Cleanup(t, cli, run)
			tt.opts.Labels = labels
			img := dockertest.SampleImage(t, cli, tt.opts)

			ctx := t.Context()
			port := nat.Port(strconv.Itoa(dockertest.SamplePort) + "/tcp")
			created, err := cli.ContainerCreate(ctx,
				&container.Config{Image: img, Labels: labels, Env: tt.env, ExposedPorts: nat.PortSet{port: {}}},
				&container.HostConfig{PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1"}}}},
				nil, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
			info, err := cli.ContainerInspect(ctx, created.ID)
			if err != nil {
				t.Fatal(err)
			}
			base := "http://127.0.0.1:" + info.NetworkSettings.Ports[port][0].HostPort

			body, code := getEventually(t, base+"/")
			if got, want := strings.TrimSpace(body), tt.opts.Version; got != want || code != http.StatusOK {
				t.Errorf("GET / = %d %q, want 200 %q", code, got, want)
			}
			if _, code := getEventually(t, base+dockertest.SampleHealthPath); code != tt.wantHealth {
				t.Errorf("GET %s = %d, want %d", dockertest.SampleHealthPath, code, tt.wantHealth)
			}
		})
	}
}

// getEventually GETs url until the server answers (it may still be
// starting) and returns the body and status.
func getEventually(t *testing.T, url string) (string, int) {
	t.Helper()
	var lastErr error
	for range 100 {
		resp, err := http.Get(url)
		if err != nil {
			lastErr = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return string(b), resp.StatusCode
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return "", 0
}
