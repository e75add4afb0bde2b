package config_test

import "strings"

// badFiles are .mainline.yaml files with mistakes, each with every error
// Parse must report, exactly.
var badFiles = []struct {
	name string
	src  string
	want string
}{
	{"unknown top-level key", `bulids: []
`, `.mainline.yaml:1:1: bulids: unknown field (did you mean builds?)`},
	{"unknown build key", `builds:
  - name: api
    dockerfile: Dockerfile
    instanses: 2
`, `.mainline.yaml:4:5: builds[0].instanses: unknown field (did you mean instances?)`},
	{"unknown key without a close match", `builds:
  - name: api
    dockerfile: Dockerfile
    replicas_wanted: 2
`, `.mainline.yaml:4:5: builds[0].replicas_wanted: unknown field (expected one of name, dockerfile, context, build, image, instances, port, health, rollout, depends_on, env)`},
	{"negative instances", `# The design's example of an error.
branch: main
builds:
  - name: api
    dockerfile: Dockerfile
    port: 8080
    instances: -1
`, `.mainline.yaml:7:16: builds[0].instances: must be ≥ 0, got -1`},
	{"instances of the wrong type", `builds:
  - name: api
    dockerfile: Dockerfile
    instances: two
`, `.mainline.yaml:4:16: builds[0].instances: must be an integer, got string "two"`},
	{"instances too many", `builds:
  - name: api
    dockerfile: Dockerfile
    instances: 5000
`, `.mainline.yaml:4:16: builds[0].instances: must be ≤ 1000, got 5000`},
	{"instances past 64 bits", `builds:
  - name: api
    dockerfile: Dockerfile
    instances: 99999999999999999999999
`, `.mainline.yaml:4:16: builds[0].instances: must be ≤ 1000, got 99999999999999999999999`},
	{"instances null", `builds:
  - name: api
    dockerfile: Dockerfile
    instances:
`, `.mainline.yaml:4:16: builds[0].instances: must be an integer, got null`},
	{"duplicate build names", `builds:
  - name: api
    dockerfile: Dockerfile
  - name: api
    dockerfile: api/Dockerfile
`, `.mainline.yaml:4:11: builds[1].name: duplicate build name "api" (first on line 2)`},
	{"missing build name", `builds:
  - dockerfile: Dockerfile
`, `.mainline.yaml:2:5: builds[0].name: is required`},
	{"invalid build name", `builds:
  - name: Api_1
    dockerfile: Dockerfile
`, `.mainline.yaml:2:11: builds[0].name: must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters, got "Api_1"`},
	{"build name ending in a dash", `builds:
  - name: api-
    dockerfile: Dockerfile
`, `.mainline.yaml:2:11: builds[0].name: must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters, got "api-"`},
	{"depends_on a missing build", `builds:
  - name: api
    dockerfile: Dockerfile
  - name: www
    dockerfile: www/Dockerfile
    depends_on: [api, db]
`, `.mainline.yaml:6:23: builds[1].depends_on[1]: no build is named "db"`},
	{"depends_on itself", `builds:
  - name: api
    dockerfile: Dockerfile
    depends_on: [api]
`, `.mainline.yaml:4:18: builds[0].depends_on[0]: build "api" cannot depend on itself`},
	{"depends_on cycle of two", `builds:
  - name: api
    dockerfile: Dockerfile
    depends_on: [www]
  - name: www
    dockerfile: www/Dockerfile
    depends_on: [api]
`, `.mainline.yaml:7:18: builds[1].depends_on[0]: dependency cycle: api -> www -> api`},
	{"depends_on cycle of three", `builds:
  - {name: a, dockerfile: a/Dockerfile, depends_on: [c]}
  - {name: b, dockerfile: b/Dockerfile, depends_on: [a]}
  - {name: c, dockerfile: c/Dockerfile, depends_on: [b]}
  - {name: d, dockerfile: d/Dockerfile, depends_on: [a]}
`, `.mainline.yaml:3:54: builds[1].depends_on[0]: dependency cycle: a -> c -> b -> a`},
	{"depends_on listed twice", `builds:
  - {name: api, dockerfile: Dockerfile}
  - {name: www, dockerfile: www/Dockerfile, depends_on: [api, api]}
`, `.mainline.yaml:3:63: builds[1].depends_on[1]: "api" is listed twice`},
	{"depends_on not a list", `builds:
  - {name: api, dockerfile: Dockerfile}
  - {name: www, dockerfile: www/Dockerfile, depends_on: api}
`, `.mainline.yaml:3:57: builds[1].depends_on: must be a list, got string "api"`},
	{"port out of range", `builds:
  - {name: api, dockerfile: Dockerfile, port: 0}
  - {name: www, dockerfile: Dockerfile, port: 65536}
`, `.mainline.yaml:2:47: builds[0].port: must be between 1 and 65535, got 0
.mainline.yaml:3:47: builds[1].port: must be between 1 and 65535, got 65536`},
	{"max_surge and max_unavailable both 0", `builds:
  - name: api
    dockerfile: Dockerfile
    rollout:
      max_surge: 0
      max_unavailable: 0
`, `.mainline.yaml:5:7: builds[0].rollout: max_surge and max_unavailable cannot both be 0: no rollout step could be taken`},
	{"max_surge 0 with max_unavailable defaulted", `builds:
  - name: api
    dockerfile: Dockerfile
    rollout: {max_surge: 0}
`, `.mainline.yaml:4:14: builds[0].rollout: max_surge and max_unavailable cannot both be 0: no rollout step could be taken`},
	{"negative surge and unavailable", `builds:
  - name: api
    dockerfile: Dockerfile
    rollout: {max_surge: -1, max_unavailable: -2}
`, `.mainline.yaml:4:26: builds[0].rollout.max_surge: must be ≥ 0, got -1
.mainline.yaml:4:47: builds[0].rollout.max_unavailable: must be ≥ 0, got -2`},
	{"health path without slash", `builds:
  - name: api
    dockerfile: Dockerfile
    health: {path: healthz}
`, `.mainline.yaml:4:20: builds[0].health.path: must start with "/", got "healthz"`},
	{"bad durations", `builds:
  - name: api
    dockerfile: Dockerfile
    health: {timeout: 2 seconds, interval: 2, threshold: 0}
    build: {command: make, timeout: -5m}
`, `.mainline.yaml:4:23: builds[0].health.timeout: must be a duration such as "2s" or "500ms", got string "2 seconds"
.mainline.yaml:4:44: builds[0].health.interval: must be a duration such as "2s" or "500ms", got integer 2
.mainline.yaml:4:58: builds[0].health.threshold: must be between 1 and 100, got 0
.mainline.yaml:5:37: builds[0].build.timeout: must be at least 1s, got -5m`},
	{"bad cron schedule", `dependencies:
  schedule: "0 25 * * *"
`, `.mainline.yaml:2:13: dependencies.schedule: not a valid cron expression: end of range (25) above maximum (23): 25`},
	{"cron schedule with too few fields", `dependencies:
  schedule: "0 9 * *"
`, `.mainline.yaml:2:13: dependencies.schedule: must be a 5-field cron expression (minute hour day-of-month month day-of-week), got "0 9 * *"`},
	{"cron schedule with a time zone prefix", `dependencies:
  schedule: "CRON_TZ=Europe/Berlin 0 9 * * *"
`, `.mainline.yaml:2:13: dependencies.schedule: must not start with a time zone; put it in dependencies.timezone`},
	{"unknown update kind", `dependencies:
  updates: [patch, huge]
`, `.mainline.yaml:2:20: dependencies.updates[1]: must be patch, minor or major, got "huge"`},
	{"empty updates", `dependencies:
  updates: []
`, `.mainline.yaml:2:12: dependencies.updates: must list at least one of patch, minor, major`},
	{"unknown time zone", `dependencies:
  timezone: Mars/Olympus_Mons
`, `.mainline.yaml:2:13: dependencies.timezone: must be an IANA time zone such as "Europe/Berlin" or "UTC", got "Mars/Olympus_Mons"`},
	{"time zone escaping the zoneinfo directory", `dependencies:
  timezone: ../../../etc/passwd
`, `.mainline.yaml:2:13: dependencies.timezone: must be an IANA time zone such as "Europe/Berlin" or "UTC", got "../../../etc/passwd"`},
	{"automerge yes", `dependencies: {automerge: yes, group: 1}
`, `.mainline.yaml:1:27: dependencies.automerge: must be true or false, got string "yes"
.mainline.yaml:1:39: dependencies.group: must be true or false, got integer 1`},
	{"negative min_release_age and bad ignore pattern", `dependencies:
  min_release_age: -3d
  ignore: ["github.com/[acme"]
`, `.mainline.yaml:2:20: dependencies.min_release_age: must not be negative, got -3d
.mainline.yaml:3:12: dependencies.ignore[0]: must be a module path, image name or pattern such as github.com/acme/*, got "github.com/[acme"`},
	{"neither dockerfile nor image", `builds:
  - name: api
    instances: 2
`, `.mainline.yaml:2:5: builds[0]: needs a dockerfile (Mainline builds the image) or an image (another system builds it)`},
	{"both dockerfile and image", `builds:
  - name: api
    dockerfile: Dockerfile
    image: ghcr.io/acme/api
`, `.mainline.yaml:4:5: builds[0].image: cannot be used together with dockerfile: a build is either built by Mainline from a Dockerfile or built elsewhere and pulled as an image`},
	{"context and build with an external image", `builds:
  - name: api
    image: ghcr.io/acme/api
    context: api
    build: {command: make}
`, `.mainline.yaml:4:5: builds[0].context: only applies to builds with a dockerfile
.mainline.yaml:5:5: builds[0].build: only applies to builds with a dockerfile`},
	{"external image with a tag", `builds:
  - {name: api, image: "ghcr.io/acme/api:1.2.3"}
  - {name: www, image: "ghcr.io/acme/www@sha256:abc"}
  - {name: web, image: "https://ghcr.io/acme/web"}
  - {name: app, image: "ghcr.io/Acme/App"}
`, `.mainline.yaml:2:24: builds[0].image: must be an image repository without tag or digest (Mainline waits for the version's tag), got "ghcr.io/acme/api:1.2.3"
.mainline.yaml:3:24: builds[1].image: must be an image repository without tag or digest (Mainline waits for the version's tag), got "ghcr.io/acme/www@sha256:abc"
.mainline.yaml:4:24: builds[2].image: must be an image repository such as ghcr.io/acme/api, not a URL, got "https://ghcr.io/acme/web"
.mainline.yaml:5:24: builds[3].image: must be an image repository such as ghcr.io/acme/api, got "ghcr.io/Acme/App"`},
	{"dockerfile escaping the repository", `builds:
  - name: api
    dockerfile: ../../etc/passwd
`, `.mainline.yaml:3:17: builds[0].dockerfile: must stay inside the repository, got "../../etc/passwd"`},
	{"absolute paths", `builds:
  - name: api
    dockerfile: /etc/passwd
    context: /
verify: /tmp/verify.yaml
`, `.mainline.yaml:3:17: builds[0].dockerfile: must be relative to the repository root, got "/etc/passwd"
.mainline.yaml:4:14: builds[0].context: must be relative to the repository root, got "/"
.mainline.yaml:5:9: verify: must be relative to the repository root, got "/tmp/verify.yaml"`},
	{"context escaping the repository", `builds:
  - name: api
    dockerfile: Dockerfile
    context: ..
verify: .mainline/../../verify.yaml
`, `.mainline.yaml:4:14: builds[0].context: must stay inside the repository, got ".."
.mainline.yaml:5:9: verify: must stay inside the repository, got ".mainline/../../verify.yaml"`},
	{"backslashes and empty paths", `builds:
  - name: api
    dockerfile: '..\..\etc\passwd'
    context: ""
`, `.mainline.yaml:3:17: builds[0].dockerfile: must use "/" to separate directories, got "..\\..\\etc\\passwd"
.mainline.yaml:4:14: builds[0].context: must not be empty`},
	{"build step without a command", `builds:
  - name: api
    dockerfile: Dockerfile
    build: {timeout: 5m}
`, `.mainline.yaml:4:12: builds[0].build.command: is required`},
	{"env with bad names and values", `builds:
  - name: api
    dockerfile: Dockerfile
    env:
      GOOD: ok
      "bad name": x
      LIST: [1, 2]
      EMPTY:
`, `.mainline.yaml:6:7: builds[0].env["bad name"]: not a valid environment variable name
.mainline.yaml:7:13: builds[0].env.LIST: must be a string, got a list
.mainline.yaml:8:14: builds[0].env.EMPTY: must be a string, got null`},
	{"invalid branch", `branch: "feature..x"
`, `.mainline.yaml:1:9: branch: not a valid git branch name: "feature..x"`},
	{"duplicate key", `builds:
  - name: api
    dockerfile: Dockerfile
    port: 8080
    port: 9090
`, `.mainline.yaml:5:5: builds[0].port: set twice (first on line 4)`},
	{"alias bomb", `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
builds: [*c]
`, `.mainline.yaml:1:1: a: unknown field (expected one of branch, builds, verify, dependencies)
.mainline.yaml:2:1: b: unknown field (expected one of branch, builds, verify, dependencies)
.mainline.yaml:3:1: c: unknown field (expected one of branch, builds, verify, dependencies)
.mainline.yaml:4:10: builds[0]: YAML aliases (*name) are not allowed`},
	{"merge key and tags", `builds:
  - <<: {name: api}
    dockerfile: !!str Dockerfile
`, `.mainline.yaml:2:5: builds[0]: merge keys (<<) are not allowed
.mainline.yaml:2:5: builds[0].name: is required
.mainline.yaml:3:17: builds[0].dockerfile: YAML tags (!!str) are not allowed`},
	{"nesting deeper than the limit", `builds: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
`, `.mainline.yaml:1:40: nesting is deeper than 32 levels`},
	{"two documents", `builds: []
---
builds: []
`, `.mainline.yaml:3:1: only one YAML document is allowed`},
	{"syntax error", `builds:
  - name: api
    health: {path: /healthz
`, `.mainline.yaml:3:13: invalid YAML: could not find flow mapping end token '}'`},
	{"top level is a list", `- name: api
`, `.mainline.yaml:1:1: must be a mapping, got a list`},
	{"builds is a mapping", `builds:
  name: api
`, `.mainline.yaml:2:3: builds: must be a list, got a mapping`},
	{"file over the size limit", "# " + strings.Repeat("x", 256<<10) + "\n", `.mainline.yaml: file is larger than the limit of 262144 bytes`},
	{"too many tokens", "builds: [" + strings.Repeat("{}, ", 3400) + "]\n", `.mainline.yaml:1:13339: file has more than 10000 YAML tokens`},
	{"invalid UTF-8", "builds: []\nbranch: ma\xffin\n", `.mainline.yaml:2:11: file is not valid UTF-8`},
	{"many errors at once", `branch: main
builds:
  - name: api
    dockerfile: Dockerfile
    instances: -1
    port: 0
  - name: api
    image: ghcr.io/acme/api
    depends_on: [nope]
    helth: {}
verify: ../verify.yaml
dependencies: {schedule: "daily", updates: [major, majr]}
`, `.mainline.yaml:5:16: builds[0].instances: must be ≥ 0, got -1
.mainline.yaml:6:11: builds[0].port: must be between 1 and 65535, got 0
.mainline.yaml:7:11: builds[1].name: duplicate build name "api" (first on line 3)
.mainline.yaml:9:18: builds[1].depends_on[0]: no build is named "nope"
.mainline.yaml:10:5: builds[1].helth: unknown field (did you mean health?)
.mainline.yaml:11:9: verify: must stay inside the repository, got "../verify.yaml"
.mainline.yaml:12:26: dependencies.schedule: must be a 5-field cron expression (minute hour day-of-month month day-of-week), got "daily"
.mainline.yaml:12:52: dependencies.updates[1]: must be patch, minor or major, got "majr"`},
}
