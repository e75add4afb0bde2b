package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/providers/docker"
	"github.com/mainline-cd/mainline/providers/ecs"
)

// ecsSettings select Amazon ECS as the cluster (MAINLINE_CLUSTER=ecs).
// AWS credentials and region come from the standard AWS configuration
// (environment, shared config files, instance roles).
type ecsSettings struct {
	Cluster        string   // MAINLINE_ECS_CLUSTER: cluster name or ARN
	Subnets        []string // MAINLINE_ECS_SUBNETS: comma-separated, for awsvpc networking
	SecurityGroups []string // MAINLINE_ECS_SECURITY_GROUPS: comma-separated
	ExecutionRole  string   // MAINLINE_ECS_EXECUTION_ROLE_ARN: lets ECS pull from ECR and write logs
	Endpoint       string   // MAINLINE_ECS_ENDPOINT: URL template of a build's service, {project} and {build} replaced
	TargetGroup    string   // MAINLINE_ECS_TARGET_GROUP: ALB target group ARN template, {project} and {build} replaced
}

const ecsHelp = `
Amazon ECS (MAINLINE_CLUSTER=ecs; AWS credentials and region from the standard AWS configuration):
  MAINLINE_CLUSTER                  docker (default: containers on this machine) or ecs
  MAINLINE_ECS_CLUSTER              ECS cluster name or ARN
  MAINLINE_ECS_SUBNETS              comma-separated subnets for the services' tasks
  MAINLINE_ECS_SECURITY_GROUPS      comma-separated security groups
  MAINLINE_ECS_EXECUTION_ROLE_ARN   task execution role (pulls from ECR, writes logs)
  MAINLINE_ECS_ENDPOINT             URL of a build's service, e.g. https://{build}.{project}.example.com;
                                    verification suites run against it
  MAINLINE_ECS_TARGET_GROUP         ALB target group ARN of a build, {project} and {build} replaced;
                                    ECS deployments wait on its health checks`

func loadECSSettings(getenv func(string) string) ecsSettings {
	list := func(v string) []string {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return ecsSettings{
		Cluster:        getenv("MAINLINE_ECS_CLUSTER"),
		Subnets:        list(getenv("MAINLINE_ECS_SUBNETS")),
		SecurityGroups: list(getenv("MAINLINE_ECS_SECURITY_GROUPS")),
		ExecutionRole:  getenv("MAINLINE_ECS_EXECUTION_ROLE_ARN"),
		Endpoint:       getenv("MAINLINE_ECS_ENDPOINT"),
		TargetGroup:    getenv("MAINLINE_ECS_TARGET_GROUP"),
	}
}

// expand fills {project} and {build} into a template.
func expand(tmpl, project, build string) string {
	return strings.NewReplacer("{project}", project, "{build}", build).Replace(tmpl)
}

// ecsProviders returns providers that build on the local Docker Engine,
// push to the configured registry (with ECR credentials when it is an ECR
// registry) and run on Amazon ECS.
func ecsProviders(ctx context.Context, s *settings, logger *slog.Logger) (controller.Providers, func(), error) {
	e := s.ECS
	if e.Cluster == "" || e.Endpoint == "" {
		return controller.Providers{}, nil, fmt.Errorf("MAINLINE_CLUSTER=ecs needs MAINLINE_ECS_CLUSTER and MAINLINE_ECS_ENDPOINT")
	}
	if s.Registry == "" {
		return controller.Providers{}, nil, fmt.Errorf("MAINLINE_CLUSTER=ecs needs MAINLINE_REGISTRY: ECS pulls images from a registry")
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return controller.Providers{}, nil, fmt.Errorf("AWS configuration: %w", err)
	}
	cfg := ecs.Config{
		Client:           awsecs.NewFromConfig(awsCfg),
		Cluster:          e.Cluster,
		Logger:           logger,
		ExecutionRoleARN: e.ExecutionRole,
		Subnets:          e.Subnets,
		SecurityGroups:   e.SecurityGroups,
		Endpoint:         func(project, build string) string { return expand(e.Endpoint, project, build) },
	}
	if e.TargetGroup != "" {
		cfg.TargetGroup = func(project, build string) string { return expand(e.TargetGroup, project, build) }
	}
	cluster, err := ecs.New(cfg)
	if err != nil {
		return controller.Providers{}, nil, err
	}
	var auth docker.Auth
	if strings.Contains(s.Registry, ".dkr.ecr.") {
		auth = docker.NewECRAuth(awsecr.NewFromConfig(awsCfg), nil)
	}
	cli, err := docker.NewClient()
	if err != nil {
		return controller.Providers{}, nil, fmt.Errorf("docker: %w", err)
	}
	p := controller.Providers{
		Builder:  docker.LimitBuilds(&docker.Builder{Client: cli, Auth: auth, Logger: logger}, 2),
		Registry: &docker.Registry{Auth: auth},
		Cluster:  cluster,
	}
	return p, func() { cli.Close() }, nil
}
