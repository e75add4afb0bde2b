package config

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/goccy/go-yaml/ast"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/robfig/cron/v3"
)

var (
	// A build name ends up in image, container and DNS names.
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// maxInstances bounds instances so that a typo cannot ask the cluster for
// a million containers.
const maxInstances = 1000

func (d *decoder) config(root ast.Node) *Config {
	cfg := &Config{Dependencies: d.dependencies(nil, "dependencies")}
	if _, isNull := root.(*ast.NullNode); root == nil || isNull {
		return cfg // an empty file: every default
	}
	f, ok := d.fields(root, "", "branch", "builds", "verify", "dependencies")
	if !ok {
		return cfg
	}
	if p, ok := f["branch"]; ok {
		if s, ok := d.str(p); ok && d.branch(p, s) {
			cfg.Branch = s
		}
	}
	if p, ok := f["builds"]; ok {
		if items, ok := d.list(p); ok {
			for i, item := range items {
				cfg.Builds = append(cfg.Builds, d.build(item, index(p.field, i)))
			}
		}
	}
	if p, ok := f["verify"]; ok {
		if s, ok := d.str(p); ok {
			cfg.Verify, _ = d.path(p.value, p.field, s, false)
		}
	}
	if p, ok := f["dependencies"]; ok {
		cfg.Dependencies = d.dependencies(p.value, p.field)
	}
	return cfg
}

// branch checks a branch name against the parts of git's ref rules that
// matter here: no whitespace, control characters or special characters,
// no "..", no leading "-".
func (d *decoder) branch(p pair, s string) bool {
	bad := s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") ||
		strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock") || strings.Contains(s, "..") ||
		strings.Contains(s, "//") || strings.Contains(s, "@{") || s == "@" ||
		strings.ContainsFunc(s, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`~^:?*[\`, r)
		})
	if bad {
		d.errorf(p.value, p.field, "not a valid git branch name: %s", quote(s))
		return false
	}
	return true
}

// path checks a path written in the file: relative to the repository
// root, inside it, with forward slashes. It returns the cleaned path.
func (d *decoder) path(n ast.Node, field, s string, dirOK bool) (string, bool) {
	clean := path.Clean(s)
	switch {
	case s == "":
		d.errorf(n, field, "must not be empty")
	case strings.ContainsFunc(s, unicode.IsControl):
		d.errorf(n, field, "must not contain control characters")
	case strings.Contains(s, `\`):
		d.errorf(n, field, `must use "/" to separate directories, got %s`, quote(s))
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~"):
		d.errorf(n, field, "must be relative to the repository root, got %s", quote(s))
	case clean == ".." || strings.HasPrefix(clean, "../"):
		d.errorf(n, field, "must stay inside the repository, got %s", quote(s))
	case clean == "." && !dirOK:
		d.errorf(n, field, "must name a file, got %s", quote(s))
	default:
		return clean, true
	}
	return "", false
}

func (d *decoder) build(n ast.Node, field string) Build {
	b := Build{Instances: DefaultInstances, Port: DefaultPort}
	var nameN ast.Node
	var deps []ast.Node
	defer func() {
		d.names = append(d.names, nameN)
		d.depends = append(d.depends, deps)
	}()
	f, ok := d.fields(n, field,
		"name", "dockerfile", "context", "build", "image", "instances", "port",
		"health", "rollout", "depends_on", "env")
	if !ok {
		return b
	}
	if p, ok := f["name"]; ok {
		if s, ok := d.str(p); ok {
			if nameRE.MatchString(s) {
				b.Name, nameN = s, p.value
			} else {
				d.errorf(p.value, p.field, "must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters, got %s", quote(s))
			}
		}
	} else {
		d.errorf(n, join(field, "name"), "is required")
	}

	dockerfile, hasDockerfile := f["dockerfile"]
	image, hasImage := f["image"]
	switch {
	case hasDockerfile && hasImage:
		d.errorf(image.keyN, image.field, "cannot be used together with dockerfile: a build is either built by Mainline from a Dockerfile or built elsewhere and pulled as an image")
	case !hasDockerfile && !hasImage:
		d.errorf(n, field, "needs a dockerfile (Mainline builds the image) or an image (another system builds it)")
	}
	if hasDockerfile {
		if s, ok := d.str(dockerfile); ok {
			b.Dockerfile, _ = d.path(dockerfile.value, dockerfile.field, s, false)
		}
		b.Context = DefaultContext
	}
	if hasImage {
		if s, ok := d.str(image); ok {
			b.Image, _ = d.image(image, s)
		}
	}
	if p, ok := f["context"]; ok {
		if hasImage && !hasDockerfile {
			d.errorf(p.keyN, p.field, "only applies to builds with a dockerfile")
		} else if s, ok := d.str(p); ok {
			b.Context, _ = d.path(p.value, p.field, s, true)
		}
	}
	if p, ok := f["build"]; ok {
		if hasImage && !hasDockerfile {
			d.errorf(p.keyN, p.field, "only applies to builds with a dockerfile")
		} else {
			b.Build = d.buildStep(p)
		}
	}
	if p, ok := f["instances"]; ok {
		b.Instances, _ = d.integer(p, 0, maxInstances, "")
	}
	if p, ok := f["port"]; ok {
		b.Port, _ = d.integer(p, 1, 65535, "must be between 1 and 65535")
	}
	b.Health = d.health(f["health"])
	b.Rollout = d.rollout(f["rollout"])
	if p, ok := f["depends_on"]; ok {
		b.DependsOn, deps, _ = d.strings(p, nil)
	}
	if p, ok := f["env"]; ok {
		b.Env = d.env(p)
	}
	return b
}

// image checks an external image: a repository reference with no tag or
// digest, since Mainline waits for the version's tag.
func (d *decoder) image(p pair, s string) (string, bool) {
	last := s[strings.LastIndex(s, "/")+1:]
	switch {
	case strings.Contains(s, "@") || strings.Contains(last, ":"):
		d.errorf(p.value, p.field, "must be an image repository without tag or digest (Mainline waits for the version's tag), got %s", quote(s))
		return "", false
	case strings.Contains(s, "://"):
		d.errorf(p.value, p.field, "must be an image repository such as ghcr.io/acme/api, not a URL, got %s", quote(s))
		return "", false
	}
	if _, err := name.NewRepository(s); err != nil {
		d.errorf(p.value, p.field, "must be an image repository such as ghcr.io/acme/api, got %s", quote(s))
		return "", false
	}
	return s, true
}

func (d *decoder) buildStep(p pair) BuildStep {
	var st BuildStep
	f, ok := d.fields(p.value, p.field, "command", "timeout")
	if !ok {
		return st
	}
	if c, ok := f["command"]; ok {
		if s, ok := d.str(c); ok {
			if strings.TrimSpace(s) == "" {
				d.errorf(c.value, c.field, "must not be empty")
			}
			st.Command = s
		}
	} else {
		d.errorf(p.value, join(p.field, "command"), "is required")
	}
	st.Timeout = DefaultBuildTimeout
	if t, ok := f["timeout"]; ok {
		st.Timeout, _ = d.duration(t, Duration(time.Second))
	}
	return st
}

func (d *decoder) health(p pair) Health {
	h := Health{Path: DefaultHealthPath, Timeout: DefaultHealthTimeout, Interval: DefaultHealthInterval, Threshold: DefaultHealthPasses}
	if p.keyN == nil {
		return h
	}
	f, ok := d.fields(p.value, p.field, "path", "timeout", "interval", "threshold")
	if !ok {
		return h
	}
	if q, ok := f["path"]; ok {
		if s, ok := d.str(q); ok {
			switch {
			case !strings.HasPrefix(s, "/"):
				d.errorf(q.value, q.field, `must start with "/", got %s`, quote(s))
			case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
				d.errorf(q.value, q.field, "must not contain spaces or control characters, got %s", quote(s))
			default:
				h.Path = s
			}
		}
	}
	if q, ok := f["timeout"]; ok {
		h.Timeout, _ = d.duration(q, Duration(time.Millisecond))
	}
	if q, ok := f["interval"]; ok {
		h.Interval, _ = d.duration(q, Duration(time.Millisecond))
	}
	if q, ok := f["threshold"]; ok {
		h.Threshold, _ = d.integer(q, 1, 100, "must be between 1 and 100")
	}
	return h
}

func (d *decoder) rollout(p pair) Rollout {
	r := Rollout{MaxSurge: DefaultMaxSurge, MaxUnavailable: DefaultMaxUnavailable}
	if p.keyN == nil {
		return r
	}
	f, ok := d.fields(p.value, p.field, "max_surge", "max_unavailable")
	if !ok {
		return r
	}
	good := true
	if q, ok := f["max_surge"]; ok {
		r.MaxSurge, ok = d.integer(q, 0, maxInstances, "")
		good = good && ok
	}
	if q, ok := f["max_unavailable"]; ok {
		r.MaxUnavailable, ok = d.integer(q, 0, maxInstances, "")
		good = good && ok
	}
	if good && r.MaxSurge == 0 && r.MaxUnavailable == 0 {
		d.errorf(p.value, p.field, "max_surge and max_unavailable cannot both be 0: no rollout step could be taken")
	}
	return r
}

func (d *decoder) env(p pair) map[string]string {
	ps, ok := d.pairs(p.value, p.field)
	if !ok || len(ps) == 0 {
		return nil
	}
	env := make(map[string]string, len(ps))
	for _, e := range ps {
		if !envRE.MatchString(e.key) {
			d.errorf(e.keyN, e.field, "not a valid environment variable name")
			continue
		}
		// Values are never quoted back in errors: they may be secrets.
		switch v := d.unwrap(e.value, e.field).(type) {
		case nil:
		case *ast.StringNode:
			env[e.key] = v.Value
		case *ast.LiteralNode:
			env[e.key] = v.Value.Value
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
			// PORT: 8080 means the text "8080".
			env[e.key] = v.GetToken().Value
		default:
			d.errorf(v, e.field, "must be a string, got %s", kind(v))
		}
	}
	return env
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

func (d *decoder) dependencies(n ast.Node, field string) Dependencies {
	deps := Dependencies{
		Schedule: DefaultSchedule,
		Timezone: DefaultTimezone,
		Updates:  []string{UpdatePatch, UpdateMinor},
	}
	if n == nil {
		return deps
	}
	f, ok := d.fields(n, field,
		"schedule", "timezone", "automerge", "ignore", "updates", "min_release_age", "group")
	if !ok {
		return deps
	}
	if p, ok := f["schedule"]; ok {
		if s, ok := d.str(p); ok {
			if problem := checkCron(s); problem != "" {
				d.errorf(p.value, p.field, "%s", problem)
			} else {
				deps.Schedule = s
			}
		}
	}
	if p, ok := f["timezone"]; ok {
		if s, ok := d.str(p); ok {
			if _, err := time.LoadLocation(s); err != nil || s == "" || s == "Local" {
				d.errorf(p.value, p.field, `must be an IANA time zone such as "Europe/Berlin" or "UTC", got %s`, quote(s))
			} else {
				deps.Timezone = s
			}
		}
	}
	if p, ok := f["automerge"]; ok {
		deps.Automerge, _ = d.boolean(p)
	}
	if p, ok := f["group"]; ok {
		deps.Group, _ = d.boolean(p)
	}
	if p, ok := f["ignore"]; ok {
		deps.Ignore, _, _ = d.strings(p, func(n ast.Node, field, s string) bool {
			if _, err := path.Match(s, ""); err != nil || s == "" {
				d.errorf(n, field, "must be a module path, image name or pattern such as github.com/acme/*, got %s", quote(s))
				return false
			}
			return true
		})
	}
	if p, ok := f["updates"]; ok {
		kinds, _, ok := d.strings(p, func(n ast.Node, field, s string) bool {
			switch s {
			case UpdatePatch, UpdateMinor, UpdateMajor:
				return true
			}
			d.errorf(n, field, "must be patch, minor or major, got %s", quote(s))
			return false
		})
		if ok && len(kinds) == 0 {
			d.errorf(p.value, p.field, "must list at least one of patch, minor, major")
		}
		if ok {
			deps.Updates = kinds
		}
	}
	if p, ok := f["min_release_age"]; ok {
		deps.MinReleaseAge, _ = d.duration(p, 0)
	}
	return deps
}

// checkCron parses a schedule with the parser gocron uses, so what passes
// here runs there. It returns what is wrong, or "".
func checkCron(s string) (problem string) {
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return "must not start with a time zone; put it in dependencies.timezone"
	}
	if len(strings.Fields(s)) != 5 {
		return "must be a 5-field cron expression (minute hour day-of-month month day-of-week), got " + quote(s)
	}
	// The cron parser is third-party code reading untrusted input; a panic
	// in it must not take the controller down.
	defer func() {
		if r := recover(); r != nil {
			problem = "not a valid cron expression: " + quote(s)
		}
	}()
	if _, err := cronParser.Parse(s); err != nil {
		return "not a valid cron expression: " + clip(err.Error())
	}
	return ""
}

// parseDuration is time.ParseDuration plus whole days ("7d"), and refuses
// durations without a unit, which time.ParseDuration accepts only for "0".
func parseDuration(s string) (Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < -3650 || n > 3650 || strings.HasPrefix(days, "+") {
			return 0, fmt.Errorf("bad day count %q", days)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	v, err := time.ParseDuration(s)
	return Duration(v), err
}

// crossCheck checks what involves several builds: unique names, and
// depends_on naming other builds without a cycle.
func (d *decoder) crossCheck(cfg *Config) {
	first := map[string]int{} // name → index of the build that has it
	for i, b := range cfg.Builds {
		if b.Name == "" {
			continue
		}
		if j, dup := first[b.Name]; dup {
			line, _ := position(d.names[j])
			d.errorf(d.names[i], index("builds", i)+".name", "duplicate build name %s (first on line %d)", quote(b.Name), line)
			continue
		}
		first[b.Name] = i
	}
	// edges[i] holds, for each valid dependency of build i, the index of
	// the build depended on and the node naming it.
	type edge struct {
		to   int
		node ast.Node
		dep  int
	}
	edges := make([][]edge, len(cfg.Builds))
	for i, b := range cfg.Builds {
		for k, dep := range b.DependsOn {
			field := fmt.Sprintf("builds[%d].depends_on[%d]", i, k)
			j, known := first[dep]
			switch {
			case dep == b.Name:
				d.errorf(d.depends[i][k], field, "build %s cannot depend on itself", quote(dep))
			case !known:
				d.errorf(d.depends[i][k], field, "no build is named %s", quote(dep))
			default:
				edges[i] = append(edges[i], edge{to: j, node: d.depends[i][k], dep: k})
			}
		}
	}
	// Depth-first search in file order; an edge back to a build still on
	// the stack closes a cycle, reported where that edge is written.
	const (
		unseen = iota
		onStack
		done
	)
	state := make([]int, len(cfg.Builds))
	var stack []int
	var visit func(i int)
	visit = func(i int) {
		state[i] = onStack
		stack = append(stack, i)
		for _, e := range edges[i] {
			switch state[e.to] {
			case unseen:
				visit(e.to)
			case onStack:
				var names []string
				for _, s := range stack[slices.Index(stack, e.to):] {
					names = append(names, cfg.Builds[s].Name)
				}
				names = append(names, cfg.Builds[e.to].Name)
				d.errorf(e.node, fmt.Sprintf("builds[%d].depends_on[%d]", i, e.dep), "dependency cycle: %s", strings.Join(names, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i := range cfg.Builds {
		if state[i] == unseen {
			visit(i)
		}
	}
}
