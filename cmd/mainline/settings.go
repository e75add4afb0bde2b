package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/providers/notify"
)

// settings is the server configuration, read only here, from MAINLINE_*
// environment variables (12-factor); flags override them where a command
// has one.
type settings struct {
	Addr           string        // MAINLINE_ADDR: HTTP listen address
	DataDir        string        // MAINLINE_DATA_DIR: where SQLite and local state live
	DatabaseURL    string        // MAINLINE_DATABASE_URL: sqlite:///path or postgres://…
	WebhookSecrets []string      // MAINLINE_WEBHOOK_SECRET, MAINLINE_WEBHOOK_SECRET_PREVIOUS
	GitHubToken    string        // MAINLINE_GITHUB_TOKEN
	GitHubURL      string        // MAINLINE_GITHUB_URL: API base for GitHub Enterprise
	GitHubOAuth    oauthSettings // MAINLINE_GITHUB_OAUTH_*: dashboard sign-in with GitHub (oauth.go)
	Registry       string        // MAINLINE_REGISTRY: host[:port][/prefix] images are pushed to
	RegistryAddr   string        // MAINLINE_REGISTRY_ADDR: where the local registry listens when MAINLINE_REGISTRY is empty
	Resync         time.Duration // MAINLINE_RESYNC: how often every project is reconciled
	LeaseTTL       time.Duration // MAINLINE_LEASE_TTL: how long the controller lease lasts without renewal
	PublicURL      string        // MAINLINE_PUBLIC_URL: the dashboard's URL, for links
	HealthDeadline time.Duration // MAINLINE_HEALTH_DEADLINE: how long a new instance has to become healthy
	SlackWebhook   string        // MAINLINE_SLACK_WEBHOOK_URL: Slack incoming webhook for deploy news
	NotifyURL      string        // MAINLINE_NOTIFY_WEBHOOK_URL: a plain HTTP webhook for deploy news
	NotifySecret   string        // MAINLINE_NOTIFY_WEBHOOK_SECRET: signs what goes to NotifyURL
	// Which kinds of news and which projects each receiver gets; empty
	// means all (MAINLINE_SLACK_KINDS, _PROJECTS; MAINLINE_NOTIFY_WEBHOOK_KINDS, _PROJECTS).
	SlackKinds, SlackProjects   []string
	NotifyKinds, NotifyProjects []string
	PublicRead                  bool        // MAINLINE_PUBLIC_READ: dashboard pages and read API without sign-in
	SessionKey                  string      // MAINLINE_SESSION_KEY: signs dashboard sessions; the same on every replica
	GoProxy                     string      // MAINLINE_GOPROXY: module proxy list for dependents day (default $GOPROXY, else proxy.golang.org)
	Cluster                     string      // MAINLINE_CLUSTER: "docker" (default) or "ecs"
	ECS                         ecsSettings // MAINLINE_ECS_*, when Cluster is "ecs"
	// GoEnv is added to the go tool's environment in dependents day's
	// scratch checkouts (set by `mainline demo` for its module proxy, not
	// from the environment, which the go tool reads itself).
	GoEnv []string
	// ClusterLabels are put on every container the local cluster starts and
	// select the ones it sees (set by `mainline demo`, not from the environment).
	ClusterLabels map[string]string
}

// settingsHelp documents the variables for `serve --help`.
const settingsHelp = `Environment:
  MAINLINE_ADDR                     listen address (default 127.0.0.1:8080)
  MAINLINE_DATA_DIR                 data directory (default ./mainline-data)
  MAINLINE_DATABASE_URL             sqlite:///path/file.db or postgres://user@host/db
                                    (default sqlite under the data directory)
  MAINLINE_WEBHOOK_SECRET           secret GitHub signs webhooks with
  MAINLINE_WEBHOOK_SECRET_PREVIOUS  a second valid secret while rotating
  MAINLINE_GITHUB_TOKEN             token for the GitHub API
  MAINLINE_GITHUB_URL               GitHub API base URL (GitHub Enterprise)
  MAINLINE_GITHUB_OAUTH_CLIENT_ID   OAuth app client ID: offers "Sign in with GitHub" on the dashboard
                                    (callback: <MAINLINE_PUBLIC_URL>/auth/github/callback)
  MAINLINE_GITHUB_OAUTH_CLIENT_SECRET  that OAuth app's client secret
  MAINLINE_GITHUB_OAUTH_ORGS        comma list of organisations whose members may sign in
  MAINLINE_GITHUB_OAUTH_TEAMS       comma list of org/team-slug teams whose members may sign in
                                    (GitHub sign-in needs at least one organisation or team)
  MAINLINE_REGISTRY                 registry images are pushed to, host[:port][/prefix]
                                    (default: a registry Mainline serves on loopback)
  MAINLINE_REGISTRY_ADDR            listen address of that local registry (default 127.0.0.1:5005)
  MAINLINE_RESYNC                   how often every project is reconciled (default 1m)
  MAINLINE_LEASE_TTL                how long the leader's lease lasts unrenewed: how soon another
                                    replica takes over from a dead one (default 15s)
  MAINLINE_PUBLIC_URL               the dashboard's public URL, for links
  MAINLINE_HEALTH_DEADLINE          how long a new local instance has to pass its health
                                    checks before its version is rolled back (default 60s)
  MAINLINE_SLACK_WEBHOOK_URL        Slack incoming webhook: deploys, rollbacks, failed verifications
  MAINLINE_NOTIFY_WEBHOOK_URL       HTTP endpoint that receives the same news as signed JSON
  MAINLINE_NOTIFY_WEBHOOK_SECRET    HMAC secret for X-Mainline-Signature-256 on those requests
  MAINLINE_SLACK_KINDS, MAINLINE_NOTIFY_WEBHOOK_KINDS
                                    comma lists of the news each receiver gets (default all):
                                    deploy_started, deploy_finished, rolled_back, verify_failed,
                                    dependency_pr_red
  MAINLINE_SLACK_PROJECTS, MAINLINE_NOTIFY_WEBHOOK_PROJECTS
                                    comma lists of the projects each receiver hears about (default all)
  MAINLINE_PUBLIC_READ              true: anyone may read the dashboard and the read API
                                    (actions always need sign-in or an API token)
  MAINLINE_SESSION_KEY              at least 32 characters signing dashboard sessions; set the
                                    same on every replica (default: random, sign-ins end on restart)
  MAINLINE_GOPROXY                  module proxy list dependents day asks and runs the go tool with
                                    (default: $GOPROXY, else https://proxy.golang.org; direct is skipped)`

func loadSettings(getenv func(string) string) (settings, error) {
	s := settings{
		Addr:         or(getenv("MAINLINE_ADDR"), "127.0.0.1:8080"),
		DataDir:      or(getenv("MAINLINE_DATA_DIR"), "mainline-data"),
		DatabaseURL:  getenv("MAINLINE_DATABASE_URL"),
		GitHubToken:  getenv("MAINLINE_GITHUB_TOKEN"),
		GitHubURL:    getenv("MAINLINE_GITHUB_URL"),
		GitHubOAuth:  loadOAuthSettings(getenv),
		Registry:     getenv("MAINLINE_REGISTRY"),
		RegistryAddr: or(getenv("MAINLINE_REGISTRY_ADDR"), "127.0.0.1:5005"),
		Resync:       time.Minute,
		LeaseTTL:     15 * time.Second,
		PublicURL:    getenv("MAINLINE_PUBLIC_URL"),
		SlackWebhook: getenv("MAINLINE_SLACK_WEBHOOK_URL"),
		NotifyURL:    getenv("MAINLINE_NOTIFY_WEBHOOK_URL"),
		NotifySecret: getenv("MAINLINE_NOTIFY_WEBHOOK_SECRET"),
		SessionKey:   getenv("MAINLINE_SESSION_KEY"),
		GoProxy:      or(getenv("MAINLINE_GOPROXY"), or(getenv("GOPROXY"), "https://proxy.golang.org")),
		Cluster:      or(getenv("MAINLINE_CLUSTER"), "docker"),
		ECS:          loadECSSettings(getenv),
	}
	for _, r := range []struct {
		kinds, projects    string
		dstKinds, dstProjs *[]string
	}{
		{"MAINLINE_SLACK_KINDS", "MAINLINE_SLACK_PROJECTS", &s.SlackKinds, &s.SlackProjects},
		{"MAINLINE_NOTIFY_WEBHOOK_KINDS", "MAINLINE_NOTIFY_WEBHOOK_PROJECTS", &s.NotifyKinds, &s.NotifyProjects},
	} {
		kinds, err := notify.ParseKinds(getenv(r.kinds))
		if err != nil {
			return s, fmt.Errorf("%s: %w", r.kinds, err)
		}
		*r.dstKinds = kinds
		*r.dstProjs = splitList(getenv(r.projects))
	}
	if s.Cluster != "docker" && s.Cluster != "ecs" {
		return s, fmt.Errorf("MAINLINE_CLUSTER: want docker or ecs, got %q", s.Cluster)
	}
	if v := getenv("MAINLINE_PUBLIC_READ"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("MAINLINE_PUBLIC_READ: want true or false, got %q", v)
		}
		s.PublicRead = b
	}
	if _, err := s.githubAuth(); err != nil {
		return s, err
	}
	if s.SessionKey != "" && len(s.SessionKey) < 32 {
		return s, fmt.Errorf("MAINLINE_SESSION_KEY: want at least 32 characters, got %d", len(s.SessionKey))
	}
	for _, k := range []string{"MAINLINE_WEBHOOK_SECRET", "MAINLINE_WEBHOOK_SECRET_PREVIOUS"} {
		if v := getenv(k); v != "" {
			s.WebhookSecrets = append(s.WebhookSecrets, v)
		}
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"MAINLINE_RESYNC", &s.Resync}, {"MAINLINE_HEALTH_DEADLINE", &s.HealthDeadline}, {"MAINLINE_LEASE_TTL", &s.LeaseTTL}} {
		v := getenv(d.key)
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			return s, fmt.Errorf("%s: want a positive duration like 1m, got %q", d.key, v)
		}
		*d.dst = dur
	}
	abs, err := filepath.Abs(s.DataDir)
	if err != nil {
		return s, fmt.Errorf("MAINLINE_DATA_DIR: %w", err)
	}
	s.DataDir = abs
	if s.DatabaseURL == "" {
		s.DatabaseURL = "sqlite://" + filepath.Join(s.DataDir, "mainline.db")
	}
	if !strings.HasPrefix(s.DatabaseURL, "sqlite:") && !strings.HasPrefix(s.DatabaseURL, "postgres") {
		return s, fmt.Errorf("MAINLINE_DATABASE_URL: want sqlite:///path or postgres://…")
	}
	return s, nil
}

// splitList reads a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
