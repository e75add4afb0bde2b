package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
)

// actionError is an action refused for a reason the caller can fix; its
// code is stable for API clients.
type actionError struct {
	status int
	code   string
	msg    string
}

func (e *actionError) Error() string { return e.msg }

func refuse(status int, code, format string, args ...any) error {
	return &actionError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// actionInfo describes an action for the confirmation page.
type actionInfo struct {
	Name    string
	Verb    string // button text
	Confirm string // the question, with %s for the project
}

var actions = map[string]actionInfo{
	"deploy":   {"deploy", "Deploy", "Deploy version %[2]s of %[1]s? It is pinned until you resume or deploy another version."},
	"rollback": {"rollback", "Roll back", "Roll %[1]s back to its previous good version? It is pinned there until you resume."},
	"pause":    {"pause", "Pause", "Pause %[1]s? Mainline keeps its desired state and deploys nothing new until resumed."},
	"resume":   {"resume", "Resume", "Resume %[1]s? Mainline unpins it and deploys the newest good version again."},
	"retry":    {"retry", "Retry build", "Retry the failed build %[3]s@%[2]s of %[1]s?"},
	"verify":   {"verify", "Re-run verification", "Run the verification suite of %[1]s against the running version again? If it fails, Mainline rolls back or alerts, as the suite's on_failure says."},
}

// actionArgs are the inputs of an action.
type actionArgs struct {
	Version string `json:"version"`
	Build   string `json:"build"`
}

// do runs an action on a project on behalf of who and returns what it
// did, in words. Every action writes an event naming who and wakes the
// project.
func (s *Server) do(ctx context.Context, p store.Project, who, name string, a actionArgs) (string, error) {
	var (
		kind, msg string
		err       error
	)
	switch name {
	case "deploy":
		kind, msg, err = s.deploy(ctx, &p, who, a.Version)
	case "rollback":
		kind, msg, err = s.rollback(ctx, &p, who)
	case "pause":
		if p.Paused {
			return "", refuse(http.StatusConflict, "already_paused", "%s is already paused", p.Name)
		}
		p.Paused = true
		kind, msg = "paused", fmt.Sprintf("paused by %s", who)
		err = s.Store.UpdateProject(ctx, p)
	case "resume":
		if !p.Paused && p.Pinned == "" {
			return "", refuse(http.StatusConflict, "not_paused", "%s is neither paused nor pinned", p.Name)
		}
		p.Paused, p.Pinned = false, ""
		kind, msg = "resumed", fmt.Sprintf("resumed and unpinned by %s", who)
		err = s.Store.UpdateProject(ctx, p)
	case "retry":
		kind, msg, err = s.retry(ctx, p, who, a)
	case "verify":
		kind, msg, err = s.requestVerify(ctx, p, who)
	default:
		return "", refuse(http.StatusNotFound, "unknown_action", "no action %q", name)
	}
	if err != nil {
		return "", err
	}
	if _, err := s.Store.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: kind, Message: msg, At: s.Clock.Now().UTC()}); err != nil {
		return "", fmt.Errorf("record %s event: %w", kind, err)
	}
	if s.Controller != nil {
		s.Controller.Wake(p.ID)
	}
	s.Logger.Info("action", "project", p.Name, "action", name, "by", who)
	return msg, nil
}

func (s *Server) deploy(ctx context.Context, p *store.Project, who, version string) (string, string, error) {
	version = strings.TrimSpace(version)
	if version == "" {
		return "", "", refuse(http.StatusBadRequest, "version_required", "choose a version to deploy")
	}
	tags, err := s.Store.Tags(ctx, p.ID)
	if err != nil {
		return "", "", err
	}
	if !slices.ContainsFunc(tags, func(t store.Tag) bool { return t.Name == version }) {
		return "", "", refuse(http.StatusBadRequest, "unknown_version", "%s has no tag %q", p.Name, version)
	}
	p.Pinned = version
	if err := s.Store.UpdateProject(ctx, *p); err != nil {
		return "", "", err
	}
	return "pinned", fmt.Sprintf("%s deployed %s (pinned)", who, version), nil
}

func (s *Server) rollback(ctx context.Context, p *store.Project, who string) (string, string, error) {
	ds, err := s.Store.DesiredStates(ctx, p.ID)
	if err != nil {
		return "", "", err
	}
	if len(ds) == 0 || ds[0].Version == "" {
		return "", "", refuse(http.StatusConflict, "nothing_deployed", "%s has nothing deployed to roll back from", p.Name)
	}
	current := ds[0].Version
	prev, err := controller.PreviousGoodVersion(ctx, s.Store, p.ID, current)
	if err != nil {
		return "", "", err
	}
	if prev == "" {
		return "", "", refuse(http.StatusConflict, "no_previous_good", "%s has no good version older than %s", p.Name, current)
	}
	p.Pinned = prev
	if err := s.Store.UpdateProject(ctx, *p); err != nil {
		return "", "", err
	}
	return "rolled_back", fmt.Sprintf("%s rolled back by %s to %s (pinned)", current, who, prev), nil
}

func (s *Server) retry(ctx context.Context, p store.Project, who string, a actionArgs) (string, string, error) {
	if a.Build == "" || a.Version == "" {
		return "", "", refuse(http.StatusBadRequest, "build_required", "name the build and version to retry")
	}
	b, err := s.Store.Build(ctx, p.ID, a.Build, a.Version)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", refuse(http.StatusNotFound, "not_found", "%s has no build %s@%s", p.Name, a.Build, a.Version)
	}
	if err != nil {
		return "", "", err
	}
	if b.Status != store.BuildFailed {
		return "", "", refuse(http.StatusConflict, "build_not_failed", "build %s@%s is %s, not failed", a.Build, a.Version, b.Status)
	}
	b.Status, b.Error, b.FinishedAt, b.StartedAt = store.BuildPending, "", time.Time{}, s.Clock.Now().UTC()
	if err := s.Store.PutBuild(ctx, b); err != nil {
		return "", "", err
	}
	return "build_retried", fmt.Sprintf("build %s@%s retried by %s", a.Build, a.Version, who), nil
}

// requestVerify asks for the project's verification suite to run again
// against the version it desires. It only writes the request (an event):
// whichever replica leads the controller runs the suite at the project's
// next reconcile, so the request works from any replica.
func (s *Server) requestVerify(ctx context.Context, p store.Project, who string) (string, string, error) {
	ds, err := s.Store.DesiredStates(ctx, p.ID)
	if err != nil {
		return "", "", err
	}
	i := slices.IndexFunc(ds, func(d store.Desired) bool { return d.Version != "" && d.Instances > 0 })
	if i < 0 {
		return "", "", refuse(http.StatusConflict, "nothing_deployed", "%s has nothing running to verify", p.Name)
	}
	return controller.EventVerifyRequested, controller.VerifyRequestMessage(ds[i].Version, who), nil
}

// actionForm handles POST /projects/{name}/-/{action} from the
// dashboard's forms: sign-in and CSRF first, then a confirmation page
// unless the form says it was confirmed, then the action.
func (s *Server) actionForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	name, act := splitProjectPath(r.URL.Path, "/projects/")
	p, err := s.who(r)
	if err != nil && !errors.Is(err, errBadToken) {
		s.serverError(w, r, err)
		return
	}
	if !p.signedIn() {
		s.renderMessage(w, r, http.StatusUnauthorized, "Sign in first", "Actions need a signed-in user.", "/signin?next="+urlPath(name))
		return
	}
	if p.viaSession && !s.validCSRF(p, r.PostFormValue("csrf")) {
		s.renderMessage(w, r, http.StatusForbidden, "Refused", "The form's CSRF token is missing or wrong; reload the page and try again.", "")
		return
	}
	info, ok := actions[act]
	if !ok {
		s.renderMessage(w, r, http.StatusNotFound, "No such action", "There is no action "+act+".", "")
		return
	}
	proj, err := s.Store.ProjectByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	args := actionArgs{Version: r.PostFormValue("version"), Build: r.PostFormValue("build")}
	if r.PostFormValue("confirmed") != "1" {
		s.render(w, r, http.StatusOK, "confirm", &pageData{Title: info.Verb + " " + proj.Name, Who: p, Data: map[string]any{
			"Project":  proj,
			"Action":   info,
			"Question": fmt.Sprintf(info.Confirm, proj.Name, args.Version, args.Build),
			"Args":     args,
			"CSRF":     s.csrfToken(p.session),
		}})
		return
	}
	if _, err := s.do(r.Context(), proj, p.name, act, args); err != nil {
		var ae *actionError
		if errors.As(err, &ae) {
			s.renderMessage(w, r, ae.status, "Not done", ae.msg, projectURL(proj.Name))
			return
		}
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, projectURL(proj.Name), http.StatusSeeOther)
}
