package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

// Errors Summarize returns, wrapped with the reason; test with errors.Is.
var (
	// ErrMalformed: the payload is not a JSON object of the event's shape.
	ErrMalformed = errors.New("malformed payload")
	// ErrMissingField: a field the event needs is absent or empty.
	ErrMissingField = errors.New("missing required field")
)

// zeroSHA is the "after" of a push that deletes a ref.
const zeroSHA = "0000000000000000000000000000000000000000"

// Summary is what Mainline needs to know about one webhook, whatever its
// event. Fields that do not apply to the event are empty.
type Summary struct {
	Event string // X-GitHub-Event, e.g. "push"
	Repo  string // repository full name, "owner/name"
	// Ref is the full git ref the event is about, e.g. "refs/heads/main"
	// (push, create, delete).
	Ref string
	// Branch is the branch the event concerns: the pushed, created or
	// deleted branch; the base branch of a pull request (where a merge
	// lands); the head branch of a check suite or check run.
	Branch string
	// Tag is the pushed, created or deleted tag.
	Tag string
	// SHA is the commit: the new head of a push, the head of a pull
	// request, check or status.
	SHA string
	// Deleted is set for a push that deletes its ref and for delete events.
	Deleted bool
}

// Handled reports whether Mainline acts on event. Other events are stored
// and ignored.
func Handled(event string) bool {
	switch event {
	case "ping", "push", "pull_request", "check_suite", "check_run", "status", "create", "delete":
		return true
	}
	return false
}

// Wakes reports whether the event should wake the projects watching Repo:
// a push that moves a branch (not a tag push, not a branch deletion), and
// any pull request, check suite, check run or status event. Creating or
// deleting a ref does not wake: a new branch arrives with its own push.
func (s Summary) Wakes() bool {
	switch s.Event {
	case "push":
		return s.Branch != "" && !s.Deleted
	case "pull_request", "check_suite", "check_run", "status":
		return true
	}
	return false
}

// Summarize parses a webhook payload of the given event (the X-GitHub-Event
// header) with go-github's ParseWebHook and returns its summary. Events
// Mainline does not handle only need to be a JSON object; their summary
// holds the event and, when present, the repository. Errors wrap
// ErrMalformed or ErrMissingField.
func Summarize(event string, payload []byte) (Summary, error) {
	s := Summary{Event: event}
	if !Handled(event) {
		return summarizeOther(s, payload)
	}
	parsed, err := github.ParseWebHook(event, payload)
	if err != nil {
		return s, fmt.Errorf("%s: %w: %v", event, ErrMalformed, err)
	}
	switch e := parsed.(type) {
	case *github.PingEvent:
		s.Repo = e.GetRepo().GetFullName() // org and app hooks ping without one
	case *github.PushEvent:
		s.Repo = e.GetRepo().GetFullName()
		s.Ref = e.GetRef()
		s.SHA = e.GetAfter()
		if err := require(event, "ref", s.Ref, "after", s.SHA, "repository.full_name", s.Repo); err != nil {
			return s, err
		}
		s.Deleted = e.GetDeleted() || s.SHA == zeroSHA
		s.Branch, s.Tag = splitRef(s.Ref)
	case *github.PullRequestEvent:
		s.Repo = e.GetRepo().GetFullName()
		pr := e.GetPullRequest()
		s.Branch = pr.GetBase().GetRef()
		s.SHA = pr.GetHead().GetSHA()
		if err := require(event, "action", e.GetAction(), "repository.full_name", s.Repo); err != nil {
			return s, err
		}
		if pr == nil {
			return s, missing(event, "pull_request")
		}
	case *github.CheckSuiteEvent:
		s.Repo = e.GetRepo().GetFullName()
		s.Branch = e.GetCheckSuite().GetHeadBranch()
		s.SHA = e.GetCheckSuite().GetHeadSHA()
		if err := require(event, "repository.full_name", s.Repo, "check_suite.head_sha", s.SHA); err != nil {
			return s, err
		}
	case *github.CheckRunEvent:
		s.Repo = e.GetRepo().GetFullName()
		s.Branch = e.GetCheckRun().GetCheckSuite().GetHeadBranch()
		s.SHA = e.GetCheckRun().GetHeadSHA()
		if err := require(event, "repository.full_name", s.Repo, "check_run.head_sha", s.SHA); err != nil {
			return s, err
		}
	case *github.StatusEvent:
		s.Repo = e.GetRepo().GetFullName()
		s.SHA = e.GetSHA()
		if err := require(event, "repository.full_name", s.Repo, "sha", s.SHA, "state", e.GetState()); err != nil {
			return s, err
		}
	case *github.CreateEvent:
		s.Repo = e.GetRepo().GetFullName()
		if err := refEvent(&s, e.GetRefType(), e.GetRef()); err != nil {
			return s, err
		}
	case *github.DeleteEvent:
		s.Repo = e.GetRepo().GetFullName()
		s.Deleted = true
		if err := refEvent(&s, e.GetRefType(), e.GetRef()); err != nil {
			return s, err
		}
	default:
		// JSON null decodes to a nil event.
		return s, fmt.Errorf("%s: %w: not a JSON object", event, ErrMalformed)
	}
	if !validRepo(s.Repo) {
		return s, fmt.Errorf("%s: %w: invalid repository.full_name", event, ErrMalformed)
	}
	return s, nil
}

// validRepo accepts repository full names that can be stored and logged
// as they are: at most 256 bytes of UTF-8 without control characters.
// GitHub's own are far stricter ("owner/name" of letters, digits and -_.).
func validRepo(name string) bool {
	if len(name) > 256 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// summarizeOther checks that the payload of an event Mainline ignores is a
// JSON object and picks out its repository.
func summarizeOther(s Summary, payload []byte) (Summary, error) {
	var p struct {
		Repository *struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if !bytes.HasPrefix(bytes.TrimLeft(payload, " \t\r\n"), []byte("{")) {
		return s, fmt.Errorf("%s: %w: not a JSON object", s.Event, ErrMalformed)
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return s, fmt.Errorf("%s: %w: %v", s.Event, ErrMalformed, err)
	}
	if p.Repository != nil {
		s.Repo = p.Repository.FullName
	}
	if !validRepo(s.Repo) {
		return s, fmt.Errorf("%s: %w: invalid repository.full_name", s.Event, ErrMalformed)
	}
	return s, nil
}

// refEvent fills s from the ref_type and ref of a create or delete event.
func refEvent(s *Summary, refType, ref string) error {
	if err := require(s.Event, "repository.full_name", s.Repo, "ref_type", refType); err != nil {
		return err
	}
	switch refType {
	case "branch":
		s.Branch, s.Ref = ref, "refs/heads/"+ref
	case "tag":
		s.Tag, s.Ref = ref, "refs/tags/"+ref
	default:
		return nil // "repository": the repository itself was created
	}
	return require(s.Event, "ref", ref)
}

// splitRef returns the branch or tag name of a full ref.
func splitRef(ref string) (branch, tag string) {
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok && b != "" {
		return b, ""
	}
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok && t != "" {
		return "", t
	}
	return "", ""
}

// require returns an ErrMissingField error naming the first empty value of
// the name, value pairs.
func require(event string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return missing(event, pairs[i])
		}
	}
	return nil
}

func missing(event, field string) error {
	return fmt.Errorf("%s: %w: %s", event, ErrMissingField, field)
}
