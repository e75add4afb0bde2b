package docker

import (
	"fmt"

	"github.com/docker/docker/client"
)

// NewClient connects to the Docker Engine named by the environment
// (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH; the local socket by
// default). It always negotiates the API version, because the client library
// speaks a newer API than many engines in use (20.10 speaks 1.41).
func NewClient() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}
