package web

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

// apiError is the body of every API error: a message for people and a
// stable code for programs.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

// errNotFoundAPI is a 404 with code not_found.
var errNotFoundAPI = &actionError{status: http.StatusNotFound, code: "not_found", msg: "not found"}

// api wraps a read-only API handler: the read permission check, JSON
// encoding and error mapping.
func (s *Server) api(h func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.who(r)
		if errors.Is(err, errBadToken) {
			writeError(w, http.StatusUnauthorized, "invalid_token", "the API token is not valid")
			return
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		if !s.canRead(p) {
			writeError(w, http.StatusUnauthorized, "unauthorized", "sign in or send an API token (Authorization: Bearer …)")
			return
		}
		v, err := h(r)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *actionError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.code, ae.msg)
		return
	}
	s.Logger.Error("api request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; the server log says why")
}

// API shapes. Times are RFC 3339 in UTC.
type (
	apiDesired struct {
		Version   string    `json:"version"`
		Instances int       `json:"instances"`
		SetAt     time.Time `json:"set_at"`
		SetBy     string    `json:"set_by"`
	}
	apiLast struct {
		Versions   map[string]int `json:"versions"`
		ObservedAt time.Time      `json:"observed_at"`
	}
	apiBuildState struct {
		Name    string      `json:"name"`
		Desired *apiDesired `json:"desired"`
		Last    *apiLast    `json:"last"`
		Status  string      `json:"status"`
		Why     string      `json:"why,omitempty"`
	}
	apiProject struct {
		Name               string          `json:"name"`
		SCM                string          `json:"scm"`
		Location           string          `json:"location"`
		Branch             string          `json:"branch,omitempty"`
		Paused             bool            `json:"paused"`
		Pinned             string          `json:"pinned,omitempty"`
		Status             string          `json:"status"`
		Builds             []apiBuildState `json:"builds"`
		LatestVerification *apiRun         `json:"latest_verification,omitempty"`
		OpenDependencyPR   *apiPR          `json:"open_dependency_pr,omitempty"`
	}
	apiEvent struct {
		ID      int64     `json:"id"`
		Project string    `json:"project,omitempty"`
		Kind    string    `json:"kind"`
		Message string    `json:"message"`
		At      time.Time `json:"at"`
	}
	apiTag struct {
		Name      string    `json:"name"`
		SHA       string    `json:"sha"`
		Message   string    `json:"message,omitempty"`
		CreatedAt time.Time `json:"created_at"`
	}
	apiBuild struct {
		Name       string     `json:"name"`
		Version    string     `json:"version"`
		Status     string     `json:"status"`
		Image      string     `json:"image,omitempty"`
		Digest     string     `json:"digest,omitempty"`
		Error      string     `json:"error,omitempty"`
		Log        *string    `json:"log,omitempty"`
		StartedAt  time.Time  `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at,omitempty"`
	}
	apiRun struct {
		ID         int64           `json:"id"`
		Version    string          `json:"version"`
		Trigger    string          `json:"trigger"`
		Status     string          `json:"status"`
		Summary    string          `json:"summary"`
		StartedAt  time.Time       `json:"started_at"`
		FinishedAt *time.Time      `json:"finished_at,omitempty"`
		Report     json.RawMessage `json:"report,omitempty"`
	}
	apiPR struct {
		Number    int       `json:"number"`
		Branch    string    `json:"branch"`
		Title     string    `json:"title"`
		State     string    `json:"state"`
		Checks    string    `json:"checks"`
		URL       string    `json:"url"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	apiActionResult struct {
		Message string     `json:"message"`
		Project apiProject `json:"project"`
	}
)

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toAPIRun(r store.VerifyRun, withReport bool) *apiRun {
	out := &apiRun{ID: r.ID, Version: r.Version, Trigger: r.Trigger, Status: r.Status, Summary: r.Summary,
		StartedAt: r.StartedAt, FinishedAt: optTime(r.FinishedAt)}
	if withReport && json.Valid(r.Report) {
		out.Report = r.Report
	}
	return out
}

func toAPIPR(pr store.DependencyPR) *apiPR {
	return &apiPR{pr.Number, pr.Branch, pr.Title, pr.State, pr.Checks, pr.URL, pr.UpdatedAt}
}

func toAPIBuild(b store.Build, withLog bool) apiBuild {
	out := apiBuild{Name: b.Name, Version: b.Version, Status: string(b.Status), Image: b.Image, Digest: b.Digest,
		Error: b.Error, StartedAt: b.StartedAt, FinishedAt: optTime(b.FinishedAt)}
	if withLog {
		out.Log = &b.Log
	}
	return out
}

func toAPIProject(v *projectView) apiProject {
	p := v.Project
	out := apiProject{Name: p.Name, SCM: p.SCM, Location: p.Location, Branch: p.Branch, Paused: p.Paused,
		Pinned: p.Pinned, Status: v.Status(), Builds: []apiBuildState{}}
	for _, b := range v.Builds {
		bs := apiBuildState{Name: b.Name, Status: b.Status, Why: b.Why}
		if b.HasDesired || b.Desired.Instances > 0 {
			bs.Desired = &apiDesired{b.Desired.Version, b.Desired.Instances, b.Desired.SetAt, b.Desired.SetBy}
		}
		if b.HasLast {
			bs.Last = &apiLast{Versions: map[string]int{}, ObservedAt: b.ObservedAt}
			for _, vc := range b.Last {
				bs.Last.Versions[vc.Version] = vc.Instances
			}
		}
		if b.Name == "—" {
			continue
		}
		out.Builds = append(out.Builds, bs)
	}
	if v.LatestRun != nil {
		out.LatestVerification = toAPIRun(*v.LatestRun, false)
	}
	if v.OpenPR != nil {
		out.OpenDependencyPR = toAPIPR(*v.OpenPR)
	}
	return out
}

// GET /api/v1/projects
func (s *Server) apiProjects(r *http.Request) (any, error) {
	views, err := s.loadAll(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]apiProject, 0, len(views))
	for _, v := range views {
		out = append(out, toAPIProject(v))
	}
	return map[string]any{"projects": out}, nil
}

func (s *Server) apiProject(r *http.Request, name string) (store.Project, error) {
	p, err := s.Store.ProjectByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return p, &actionError{status: http.StatusNotFound, code: "not_found", msg: "no project named " + strconv.Quote(name)}
	}
	return p, err
}

// GET /api/v1/projects/{name}[/-/…]
func (s *Server) apiProjectGet(r *http.Request) (any, error) {
	name, rest := splitProjectPath(r.URL.Path, "/api/v1/projects/")
	p, err := s.apiProject(r, name)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	parts := strings.Split(rest, "/")
	switch {
	case rest == "":
		v, err := s.loadProject(ctx, p)
		if err != nil {
			return nil, err
		}
		return toAPIProject(v), nil
	case rest == "events":
		q := r.URL.Query()
		before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
		limit, _ := strconv.Atoi(q.Get("limit"))
		return s.apiEventPage(r, store.EventQuery{ProjectID: p.ID, Kind: q.Get("kind"), BeforeID: before, Limit: limit},
			map[int64]string{p.ID: p.Name})
	case rest == "tags":
		tags, err := s.Store.Tags(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		out := make([]apiTag, 0, len(tags))
		for _, t := range tags {
			out = append(out, apiTag{t.Name, t.SHA, t.Message, t.CreatedAt})
		}
		return map[string]any{"tags": out}, nil
	case rest == "builds":
		bs, err := s.Store.Builds(ctx, p.ID, 100)
		if err != nil {
			return nil, err
		}
		out := make([]apiBuild, 0, len(bs))
		for _, b := range bs {
			out = append(out, toAPIBuild(b, false))
		}
		return map[string]any{"builds": out}, nil
	case parts[0] == "builds" && len(parts) == 3:
		b, err := s.Store.Build(ctx, p.ID, parts[1], parts[2])
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNotFoundAPI
		}
		if err != nil {
			return nil, err
		}
		return toAPIBuild(b, true), nil
	case rest == "verify-runs":
		runs, err := s.Store.VerifyRuns(ctx, p.ID, 50)
		if err != nil {
			return nil, err
		}
		out := make([]*apiRun, 0, len(runs))
		for _, vr := range runs {
			out = append(out, toAPIRun(vr, false))
		}
		return map[string]any{"verify_runs": out}, nil
	case parts[0] == "verify-runs" && len(parts) == 2:
		id, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return nil, errNotFoundAPI
		}
		vr, err := s.findRun(r, p, id)
		if err != nil {
			return nil, err
		}
		if vr == nil {
			return nil, errNotFoundAPI
		}
		return toAPIRun(*vr, true), nil
	case rest == "dependency-prs":
		prs, err := s.Store.DependencyPRs(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		out := make([]*apiPR, 0, len(prs))
		for _, pr := range prs {
			out = append(out, toAPIPR(pr))
		}
		return map[string]any{"dependency_prs": out}, nil
	case rest == "metrics":
		m, err := s.projectMetrics(ctx, p)
		if err != nil {
			return nil, err
		}
		return apiMetrics(m), nil
	}
	return nil, errNotFoundAPI
}

func apiMetrics(m *deliveryMetrics) map[string]any {
	rate := 0.0
	if m.Deploys > 0 {
		rate = float64(m.Rollbacks) / float64(m.Deploys)
	}
	return map[string]any{
		"since":                   m.Since,
		"deploys":                 m.Deploys,
		"deploys_per_week":        m.PerWeek,
		"lead_time_seconds":       m.LeadTime().Seconds(),
		"rollbacks":               m.Rollbacks,
		"change_failure_rate":     rate,
		"time_to_restore_seconds": m.RestoreTime().Seconds(),
		"daily_deploys":           m.DailyDeploy,
		"daily_rollbacks":         m.DailyFail,
	}
}

const maxEventPage = 500

func (s *Server) apiEventPage(r *http.Request, q store.EventQuery, names map[int64]string) (any, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, maxEventPage)
	evs, err := s.Store.Events(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := make([]apiEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, apiEvent{e.ID, names[e.ProjectID], e.Kind, e.Message, e.At})
	}
	resp := map[string]any{"events": out}
	if len(evs) == q.Limit {
		resp["next_before"] = evs[len(evs)-1].ID
	}
	return resp, nil
}

// GET /api/v1/events: every project's events, newest first.
func (s *Server) apiEvents(r *http.Request) (any, error) {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	ps, err := s.Store.Projects(r.Context())
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(ps))
	var pid int64
	for _, p := range ps {
		names[p.ID] = p.Name
		if p.Name == q.Get("project") {
			pid = p.ID
		}
	}
	if q.Get("project") != "" && pid == 0 {
		return nil, &actionError{status: http.StatusNotFound, code: "not_found", msg: "no project named " + strconv.Quote(q.Get("project"))}
	}
	return s.apiEventPage(r, store.EventQuery{ProjectID: pid, Kind: q.Get("kind"), BeforeID: before, Limit: limit}, names)
}

// POST /api/v1/projects/{name}/-/{action}: the actions for programs. A
// bearer token needs nothing more; a browser session must send its CSRF
// token in the X-CSRF-Token header.
func (s *Server) apiAction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	p, err := s.who(r)
	switch {
	case errors.Is(err, errBadToken):
		writeError(w, http.StatusUnauthorized, "invalid_token", "the API token is not valid")
		return
	case err != nil:
		s.apiFail(w, r, err)
		return
	case !p.signedIn():
		writeError(w, http.StatusUnauthorized, "unauthorized", "actions need an API token (Authorization: Bearer …) or a signed-in session")
		return
	case p.viaSession && !s.validCSRF(p, r.Header.Get("X-CSRF-Token")):
		writeError(w, http.StatusForbidden, "csrf", "missing or invalid X-CSRF-Token header")
		return
	}
	name, act := splitProjectPath(r.URL.Path, "/api/v1/projects/")
	if _, ok := actions[act]; !ok {
		writeError(w, http.StatusNotFound, "unknown_action", "no action "+strconv.Quote(act))
		return
	}
	var args actionArgs
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "the body is not a JSON object of the action's arguments")
			return
		}
	default:
		args = actionArgs{Version: r.FormValue("version"), Build: r.FormValue("build")}
	}
	proj, err := s.apiProject(r, name)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	msg, err := s.do(r.Context(), proj, p.name, act, args)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	proj, err = s.Store.ProjectByName(r.Context(), name)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	v, err := s.loadProject(r.Context(), proj)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiActionResult{Message: msg, Project: toAPIProject(v)})
}
