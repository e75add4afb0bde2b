package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller"
	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy/verify"
)

// pageData is what every page template gets.
type pageData struct {
	Title string
	Who   principal
	CSRF  string
	Now   time.Time
	Path  string // the request path with its query, for "next" links
	Data  any
	// Refresh, when positive, makes the page reload itself every Refresh
	// seconds (a running build's log), with or without JavaScript.
	Refresh int
}

// Ago says how long before the page was rendered t was.
func (d *pageData) Ago(t time.Time) string { return ago(d.Now, t) }

// SignedIn reports whether the viewer is signed in.
func (d *pageData) SignedIn() bool { return d.Who.signedIn() }

// User names the viewer.
func (d *pageData) User() string { return d.Who.name }

var funcs = template.FuncMap{
	"statusClass": statusClass,
	"human":       human,
	"inc":         func(i int) int { return i + 1 },
	"short": func(sha string) string {
		if len(sha) > 7 {
			return sha[:7]
		}
		return sha
	},
	"projectURL": projectURL,
	"buildURL":   buildURL,
	"runURL":     runURL,
	"firstLine": func(s string) string {
		first, _, _ := strings.Cut(s, "\n")
		return first
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"clock":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"pretty":  prettyBody,
	"ms":      func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) },
	"pathOnly": func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Path == "" {
			return raw
		}
		if u.RawQuery != "" {
			return u.Path + "?" + u.RawQuery
		}
		return u.Path
	},
	"headerLines": func(h map[string][]string) []string {
		var out []string
		for k, vs := range h {
			for _, v := range vs {
				out = append(out, k+": "+v)
			}
		}
		sortStrings(out)
		return out
	},
	"statuses": func() []string {
		return []string{StatusFailed, StatusWaiting, StatusRolling, StatusVerifying, StatusPaused, StatusInSync}
	},
}

func parseTemplates() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html"))
	out := map[string]*template.Template{}
	for _, page := range []string{"overview", "project", "build", "run", "apidocs", "delivery", "signin", "confirm", "message"} {
		t := template.Must(base.Clone())
		out[page] = template.Must(t.ParseFS(templateFS, "templates/"+page+".html"))
	}
	return out
}

// render writes a page; the template is executed into a buffer first so
// an error never leaves half a page behind.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, page string, d *pageData) {
	d.Now = s.Clock.Now()
	d.Path = r.URL.RequestURI()
	if d.Who.viaSession {
		d.CSRF = s.csrfToken(d.Who.session)
	}
	var buf bytes.Buffer
	if err := s.tmpl[page].ExecuteTemplate(&buf, "layout.html", d); err != nil {
		s.Logger.Error("render", "page", page, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (s *Server) renderMessage(w http.ResponseWriter, r *http.Request, code int, title, msg, link string) {
	p, _ := s.who(r)
	s.render(w, r, code, "message", &pageData{Title: title, Who: p, Data: map[string]any{"Message": msg, "Link": link}})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderMessage(w, r, http.StatusNotFound, "Not found", "There is nothing at "+r.URL.Path+".", "/")
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.Logger.Error("request failed", "path", r.URL.Path, "err", err)
	s.renderMessage(w, r, http.StatusInternalServerError, "Something went wrong", "The request failed; the server log says why.", "")
}

// page wraps a read-only page handler with the read permission check.
func (s *Server) page(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.who(r)
		if err != nil && !errors.Is(err, errBadToken) {
			s.serverError(w, r, err)
			return
		}
		if !s.canRead(p) {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, p)
	}
}

func projectURL(name string) string { return "/projects/" + urlPath(name) }

func buildURL(project, build, version string) string {
	return projectURL(project) + "/-/builds/" + url.PathEscape(build) + "/" + url.PathEscape(version)
}

func runURL(project string, id int64) string {
	return projectURL(project) + "/-/runs/" + strconv.FormatInt(id, 10)
}

// urlPath escapes each segment of a name that may contain slashes.
func urlPath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request, p principal) {
	views, err := s.overviewViews(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	q, status := r.URL.Query().Get("q"), r.URL.Query().Get("status")
	if _, ok := statusRank(status); !ok {
		status = ""
	}
	rows := overviewRows(views, q, status)
	counts := map[string]int{}
	for _, v := range views {
		for _, b := range v.Builds {
			counts[b.Status]++
		}
	}
	// Problems sort first, so the first page is the one that matters; a
	// page of thousands of rows helps no one and costs the most to draw.
	pages := max(1, (len(rows)+overviewPageRows-1)/overviewPageRows)
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = min(max(page, 1), pages)
	shown := rows[(page-1)*overviewPageRows : min(len(rows), page*overviewPageRows)]
	now := s.Clock.Now()
	for i := range shown {
		shown[i].describe(now)
	}
	pageURL := func(n int) string {
		v := url.Values{}
		if q != "" {
			v.Set("q", q)
		}
		if status != "" {
			v.Set("status", status)
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return "/"
		}
		return "/?" + v.Encode()
	}
	data := map[string]any{
		"Rows": shown, "Total": len(rows), "Query": q, "Status": status, "Counts": counts, "Projects": len(views),
		"Page": page, "Pages": pages, "From": (page-1)*overviewPageRows + 1, "To": (page-1)*overviewPageRows + len(shown),
	}
	if page > 1 {
		data["Prev"] = pageURL(page - 1)
	}
	if page < pages {
		data["Next"] = pageURL(page + 1)
	}
	s.render(w, r, http.StatusOK, "overview", &pageData{Title: "Overview", Who: p, Data: data})
}

// projectRoute serves /projects/{name} and the pages below it.
func (s *Server) projectRoute(w http.ResponseWriter, r *http.Request, p principal) {
	name, rest := splitProjectPath(r.URL.Path, "/projects/")
	proj, err := s.Store.ProjectByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	parts := strings.Split(rest, "/")
	switch {
	case rest == "":
		s.projectPage(w, r, p, proj)
	case parts[0] == "builds" && len(parts) == 3:
		s.buildPage(w, r, p, proj, parts[1], parts[2])
	case parts[0] == "runs" && len(parts) == 2:
		id, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			s.notFound(w, r)
			return
		}
		s.runPage(w, r, p, proj, id)
	case rest == "api-docs":
		s.apiDocsPage(w, r, p, proj)
	default:
		s.notFound(w, r)
	}
}

const timelinePage = 50

// overviewPageRows is how many project × build rows one overview page shows.
const overviewPageRows = 200

func (s *Server) projectPage(w http.ResponseWriter, r *http.Request, p principal, proj store.Project) {
	ctx := r.Context()
	v, err := s.loadProject(ctx, proj)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	events, err := s.Store.Events(ctx, store.EventQuery{ProjectID: proj.ID, BeforeID: before, Limit: timelinePage + 1})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var older int64
	if len(events) > timelinePage {
		events = events[:timelinePage]
		older = events[len(events)-1].ID
	}
	tags, err := s.Store.Tags(ctx, proj.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	builds, err := s.Store.Builds(ctx, proj.ID, 30)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	runs, err := s.Store.VerifyRuns(ctx, proj.ID, 20)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	prs, err := s.Store.DependencyPRs(ctx, proj.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	m, err := s.projectMetrics(ctx, proj)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	shownTags := tags
	if len(shownTags) > 30 {
		shownTags = shownTags[:30]
	}
	s.render(w, r, http.StatusOK, "project", &pageData{Title: proj.Name, Who: p, Data: map[string]any{
		"V": v, "Events": events, "Older": older, "Before": before, "Tags": shownTags, "AllTags": tags,
		"Builds": builds, "Runs": runs, "PRs": prs, "Metrics": m, "HasFailedBuild": hasFailed(builds),
	}})
}

func hasFailed(bs []store.Build) bool {
	for _, b := range bs {
		if b.Status == store.BuildFailed {
			return true
		}
	}
	return false
}

func (s *Server) buildPage(w http.ResponseWriter, r *http.Request, p principal, proj store.Project, build, version string) {
	b, err := s.Store.Build(r.Context(), proj.ID, build, version)
	if errors.Is(err, store.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d := &pageData{Title: fmt.Sprintf("%s %s@%s", proj.Name, build, version), Who: p,
		Data: map[string]any{"Project": proj, "B": b}}
	if b.Status == store.BuildRunning || b.Status == store.BuildPending {
		d.Refresh = 2 // the controller writes the log every second while it builds
	}
	s.render(w, r, http.StatusOK, "build", d)
}

// findRun finds a verification run of a project by id among its recent
// runs.
func (s *Server) findRun(r *http.Request, proj store.Project, id int64) (*store.VerifyRun, error) {
	runs, err := s.Store.VerifyRuns(r.Context(), proj.ID, 500)
	if err != nil {
		return nil, err
	}
	for i := range runs {
		if runs[i].ID == id {
			return &runs[i], nil
		}
	}
	return nil, nil
}

// decodeReport reads a stored run's report; a run without one (skipped,
// or still running) has no steps.
func decodeReport(vr *store.VerifyRun) *verify.Report {
	rep := &verify.Report{}
	if len(vr.Report) > 0 {
		if err := json.Unmarshal(vr.Report, rep); err != nil {
			rep.Error = "the stored report could not be read: " + err.Error()
		}
	}
	return rep
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request, p principal, proj store.Project, id int64) {
	vr, err := s.findRun(r, proj, id)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if vr == nil {
		s.notFound(w, r)
		return
	}
	s.render(w, r, http.StatusOK, "run", &pageData{Title: fmt.Sprintf("%s verification %d", proj.Name, id), Who: p,
		Data: map[string]any{"Project": proj, "Run": vr, "Report": decodeReport(vr)}})
}

func (s *Server) apiDocsPage(w http.ResponseWriter, r *http.Request, p principal, proj store.Project) {
	runs, err := s.Store.VerifyRuns(r.Context(), proj.ID, 100)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var run *store.VerifyRun
	for i := range runs {
		if runs[i].Status == controller.RunPassed && len(runs[i].Report) > 0 {
			run = &runs[i]
			break
		}
	}
	data := map[string]any{"Project": proj, "Run": run}
	if run != nil {
		data["Report"] = decodeReport(run)
	}
	s.render(w, r, http.StatusOK, "apidocs", &pageData{Title: proj.Name + " API", Who: p, Data: data})
}

func (s *Server) deliveryPage(w http.ResponseWriter, r *http.Request, p principal) {
	all, per, err := s.allMetrics(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "delivery", &pageData{Title: "Delivery metrics", Who: p,
		Data: map[string]any{"All": all, "Per": per}})
}

// prettyBody indents a JSON body for reading; anything else is shown as
// it is.
func prettyBody(body string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(body), "", "  ") == nil {
		return buf.String()
	}
	return body
}
