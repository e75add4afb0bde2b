package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-github/v60/github"
)

func (s *Server) createStatus(w http.ResponseWriter, req *http.Request, r *Repo) {
	ref := req.PathValue("sha")
	var body struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if !decode(w, req, &body) {
		return
	}
	sha, ok := r.resolve(ref)
	if !ok {
		fail(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref)
		return
	}
	if !slices.Contains([]string{"error", "failure", "pending", "success"}, body.State) {
		validationFailed(w, "Status", "state", "custom", "state is not included in the list")
		return
	}
	if body.Context == "" {
		body.Context = "default"
	}
	id := s.id()
	st := &github.RepoStatus{
		ID: github.Int64(id), NodeID: github.String(fmt.Sprintf("SC_%d", id)),
		URL:   github.String(s.apiURL("/repos/" + r.FullName() + "/statuses/" + sha)),
		State: github.String(body.State), Context: github.String(body.Context),
		Description: github.String(body.Description), TargetURL: github.String(body.TargetURL),
		Creator:   &github.User{Login: github.String("mainline[bot]")},
		CreatedAt: s.now(), UpdatedAt: s.now(),
	}
	r.statuses[sha] = append(r.statuses[sha], st)
	writeJSON(w, http.StatusCreated, st)
}

func (s *Server) createCheckRun(w http.ResponseWriter, req *http.Request, r *Repo) {
	var body struct {
		Name       string `json:"name"`
		HeadSHA    string `json:"head_sha"`
		Status     string `json:"status"`
		Conclusion string `json:"conclusion"`
	}
	if !decode(w, req, &body) {
		return
	}
	if _, ok := r.commits[body.HeadSHA]; !ok || body.Name == "" {
		validationFailed(w, "CheckRun", "head_sha", "invalid", "No commit found for SHA: "+body.HeadSHA)
		return
	}
	if body.Status == "" {
		body.Status = "queued"
	}
	run := &github.CheckRun{ID: github.Int64(s.id()), Name: &body.Name, HeadSHA: &body.HeadSHA, Status: &body.Status, StartedAt: s.now()}
	if body.Conclusion != "" {
		run.Status = github.String("completed")
		run.Conclusion = &body.Conclusion
		run.CompletedAt = s.now()
	}
	r.checks = append(r.checks, run)
	writeJSON(w, http.StatusCreated, run)
}

func (s *Server) updateCheckRun(w http.ResponseWriter, req *http.Request, r *Repo) {
	id, _ := strconv.ParseInt(req.PathValue("id"), 10, 64)
	i := slices.IndexFunc(r.checks, func(c *github.CheckRun) bool { return c.GetID() == id })
	if i < 0 {
		notFound(w)
		return
	}
	var body struct {
		Status     *string `json:"status"`
		Conclusion *string `json:"conclusion"`
	}
	if !decode(w, req, &body) {
		return
	}
	run := r.checks[i]
	if body.Status != nil {
		run.Status = body.Status
	}
	if body.Conclusion != nil {
		run.Status = github.String("completed")
		run.Conclusion = body.Conclusion
		run.CompletedAt = s.now()
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Server) createDeployment(w http.ResponseWriter, req *http.Request, r *Repo) {
	var body github.DeploymentRequest
	if !decode(w, req, &body) {
		return
	}
	ref := body.GetRef()
	sha, ok := r.resolve(ref)
	if ref == "" || !ok {
		fail(w, http.StatusUnprocessableEntity, "No ref found for: "+ref)
		return
	}
	// Required contexts: by default every context on the ref must be
	// green; an explicit empty list skips the check.
	latest := map[string]string{}
	for _, st := range r.statuses[sha] {
		latest[st.GetContext()] = st.GetState()
	}
	var failed []string
	if body.RequiredContexts == nil {
		for c, state := range latest {
			if state != "success" {
				failed = append(failed, c)
			}
		}
	} else {
		for _, c := range *body.RequiredContexts {
			if latest[c] != "success" {
				failed = append(failed, c)
			}
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		writeJSON(w, http.StatusConflict, apiError{
			Message:          "Conflict: Commit status checks failed for " + ref + ".",
			Errors:           []github.Error{{Resource: "Deployment", Field: "required_contexts", Code: "invalid", Message: strings.Join(failed, ", ")}},
			DocumentationURL: "https://docs.github.com/rest/deployments/deployments#create-a-deployment",
		})
		return
	}
	env := body.GetEnvironment()
	if env == "" {
		env = "production"
	}
	task := body.GetTask()
	if task == "" {
		task = "deploy"
	}
	id := s.id()
	d := &github.Deployment{
		ID: github.Int64(id), NodeID: github.String(fmt.Sprintf("DE_%d", id)),
		SHA: github.String(sha), Ref: github.String(ref), Task: github.String(task),
		Environment: github.String(env), Description: github.String(body.GetDescription()),
		Creator:   &github.User{Login: github.String("mainline[bot]")},
		CreatedAt: s.now(), UpdatedAt: s.now(),
		URL:           github.String(s.apiURL(fmt.Sprintf("/repos/%s/deployments/%d", r.FullName(), id))),
		StatusesURL:   github.String(s.apiURL(fmt.Sprintf("/repos/%s/deployments/%d/statuses", r.FullName(), id))),
		RepositoryURL: github.String(s.apiURL("/repos/" + r.FullName())),
	}
	r.deploys = append(r.deploys, &deployment{d: d})
	writeJSON(w, http.StatusCreated, d)
}

func (s *Server) listDeployments(w http.ResponseWriter, req *http.Request, r *Repo) {
	q := req.URL.Query()
	var out []*github.Deployment
	for i := len(r.deploys) - 1; i >= 0; i-- { // newest first
		d := r.deploys[i].d
		if (q.Get("sha") == "" || q.Get("sha") == d.GetSHA()) &&
			(q.Get("ref") == "" || q.Get("ref") == d.GetRef()) &&
			(q.Get("environment") == "" || q.Get("environment") == d.GetEnvironment()) &&
			(q.Get("task") == "" || q.Get("task") == d.GetTask()) {
			out = append(out, d)
		}
	}
	paginate(w, req, out)
}

func (r *Repo) deployment(req *http.Request) *deployment {
	id, _ := strconv.ParseInt(req.PathValue("id"), 10, 64)
	for _, d := range r.deploys {
		if d.d.GetID() == id {
			return d
		}
	}
	return nil
}

func (s *Server) getDeployment(w http.ResponseWriter, req *http.Request, r *Repo) {
	d := r.deployment(req)
	if d == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, d.d)
}

func (s *Server) createDeploymentStatus(w http.ResponseWriter, req *http.Request, r *Repo) {
	d := r.deployment(req)
	if d == nil {
		notFound(w)
		return
	}
	var body github.DeploymentStatusRequest
	if !decode(w, req, &body) {
		return
	}
	if !slices.Contains([]string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}, body.GetState()) {
		validationFailed(w, "DeploymentStatus", "state", "custom", "state is not included in the list")
		return
	}
	id := s.id()
	env := body.GetEnvironment()
	if env == "" {
		env = d.d.GetEnvironment()
	}
	st := &github.DeploymentStatus{
		ID: github.Int64(id), NodeID: github.String(fmt.Sprintf("DES_%d", id)),
		State: body.State, Description: github.String(body.GetDescription()),
		Environment: github.String(env), EnvironmentURL: github.String(body.GetEnvironmentURL()),
		LogURL:    github.String(body.GetLogURL()),
		Creator:   &github.User{Login: github.String("mainline[bot]")},
		CreatedAt: s.now(), UpdatedAt: s.now(),
		DeploymentURL: d.d.URL,
		RepositoryURL: github.String(s.apiURL("/repos/" + r.FullName())),
		URL:           github.String(fmt.Sprintf("%s/%d", d.d.GetStatusesURL(), id)),
	}
	d.statuses = append(d.statuses, st)
	writeJSON(w, http.StatusCreated, st)
}

func (s *Server) listDeploymentStatuses(w http.ResponseWriter, req *http.Request, r *Repo) {
	d := r.deployment(req)
	if d == nil {
		notFound(w)
		return
	}
	out := slices.Clone(d.statuses)
	slices.Reverse(out)
	paginate(w, req, out)
}

// branchName strips the "owner:" GitHub allows on head and base.
func (r *Repo) branchName(ref string) string {
	if owner, branch, ok := strings.Cut(ref, ":"); ok && strings.EqualFold(owner, r.owner) {
		return branch
	}
	return ref
}

func (s *Server) createPull(w http.ResponseWriter, req *http.Request, r *Repo) {
	var body github.NewPullRequest
	if !decode(w, req, &body) {
		return
	}
	head, base := r.branchName(body.GetHead()), r.branchName(body.GetBase())
	if body.GetTitle() == "" {
		validationFailed(w, "PullRequest", "title", "missing_field", "")
		return
	}
	headSHA, ok := r.refs["refs/heads/"+head]
	if !ok {
		validationFailed(w, "PullRequest", "head", "invalid", "")
		return
	}
	baseSHA, ok := r.refs["refs/heads/"+base]
	if !ok {
		validationFailed(w, "PullRequest", "base", "invalid", "")
		return
	}
	for _, p := range r.pulls {
		if p.state == "open" && p.head == head && p.base == base {
			validationFailed(w, "PullRequest", "", "custom", fmt.Sprintf("A pull request already exists for %s:%s.", r.owner, head))
			return
		}
	}
	if r.ancestors(baseSHA)[headSHA] {
		validationFailed(w, "PullRequest", "", "custom", fmt.Sprintf("No commits between %s and %s", base, head))
		return
	}
	r.nextPull++
	p := &pull{
		number: r.nextPull, title: body.GetTitle(), body: body.GetBody(), head: head, base: base,
		state: "open", created: *s.now(), updated: *s.now(),
	}
	r.pulls = append(r.pulls, p)
	writeJSON(w, http.StatusCreated, r.pullJSON(p))
}

func (s *Server) listPulls(w http.ResponseWriter, req *http.Request, r *Repo) {
	q := req.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var out []*github.PullRequest
	for i := len(r.pulls) - 1; i >= 0; i-- { // newest first
		p := r.pulls[i]
		if (state == "all" || state == p.state) &&
			(q.Get("head") == "" || r.branchName(q.Get("head")) == p.head) &&
			(q.Get("base") == "" || q.Get("base") == p.base) {
			out = append(out, r.pullJSON(p))
		}
	}
	paginate(w, req, out)
}

func (r *Repo) pullFor(w http.ResponseWriter, req *http.Request) *pull {
	n, _ := strconv.Atoi(req.PathValue("number"))
	p := r.pull(n)
	if p == nil {
		notFound(w)
	}
	return p
}

func (s *Server) getPull(w http.ResponseWriter, req *http.Request, r *Repo) {
	if p := r.pullFor(w, req); p != nil {
		writeJSON(w, http.StatusOK, r.pullJSON(p))
	}
}

func (r *Repo) close(p *pull) {
	p.headSHA = r.refs["refs/heads/"+p.head]
	p.baseSHA = r.refs["refs/heads/"+p.base]
	p.state = "closed"
	p.closed = r.s.now()
}

func (s *Server) editPull(w http.ResponseWriter, req *http.Request, r *Repo) {
	p := r.pullFor(w, req)
	if p == nil {
		return
	}
	var body struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
		Base  *string `json:"base"`
	}
	if !decode(w, req, &body) {
		return
	}
	if body.Title != nil {
		p.title = *body.Title
	}
	if body.Body != nil {
		p.body = *body.Body
	}
	if body.Base != nil {
		if _, ok := r.refs["refs/heads/"+*body.Base]; !ok {
			validationFailed(w, "PullRequest", "base", "invalid", "")
			return
		}
		p.base = *body.Base
	}
	if body.State != nil {
		switch {
		case *body.State == "closed" && p.state == "open":
			r.close(p)
		case *body.State == "open" && p.state == "closed" && !p.merged:
			p.state, p.closed = "open", nil
		case *body.State != "open" && *body.State != "closed":
			validationFailed(w, "PullRequest", "state", "invalid", "")
			return
		}
	}
	p.updated = *s.now()
	writeJSON(w, http.StatusOK, r.pullJSON(p))
}

func (s *Server) mergePull(w http.ResponseWriter, req *http.Request, r *Repo) {
	p := r.pullFor(w, req)
	if p == nil {
		return
	}
	var body struct {
		CommitTitle   *string `json:"commit_title"`
		CommitMessage *string `json:"commit_message"`
		SHA           string  `json:"sha"`
		MergeMethod   string  `json:"merge_method"`
	}
	if !decode(w, req, &body) {
		return
	}
	if p.state != "open" {
		fail(w, http.StatusMethodNotAllowed, "Pull Request is not mergeable")
		return
	}
	head, base := r.refs["refs/heads/"+p.head], r.refs["refs/heads/"+p.base]
	if body.SHA != "" && body.SHA != head {
		fail(w, http.StatusConflict, "Head branch was modified. Review and try the merge again.")
		return
	}
	method := body.MergeMethod
	if method == "" {
		method = "merge"
	}
	if method != "merge" && method != "squash" && method != "rebase" {
		validationFailed(w, "PullRequest", "merge_method", "invalid", "")
		return
	}
	files, ok := r.merge3(base, head)
	if !ok {
		fail(w, http.StatusMethodNotAllowed, "Pull Request is not mergeable")
		return
	}
	title := fmt.Sprintf("Merge pull request #%d from %s/%s", p.number, r.owner, p.head)
	message := p.title
	parents := []string{base, head}
	if method != "merge" { // squash; rebase is modelled as a squash
		title = fmt.Sprintf("%s (#%d)", p.title, p.number)
		message = ""
		parents = []string{base}
	}
	if body.CommitTitle != nil {
		title = *body.CommitTitle
	}
	if body.CommitMessage != nil {
		message = *body.CommitMessage
	}
	full := title
	if message != "" {
		full += "\n\n" + message
	}
	sha := r.putCommit(r.putTree(files), parents, full, github.CommitAuthor{
		Name: github.String("mainline[bot]"), Email: github.String("mainline@localhost"), Date: s.now(),
	})
	r.refs["refs/heads/"+p.base] = sha
	r.close(p)
	p.baseSHA = base
	p.merged = true
	p.mergeSHA = sha
	writeJSON(w, http.StatusOK, &github.PullRequestMergeResult{
		SHA: github.String(sha), Merged: github.Bool(true), Message: github.String("Pull Request successfully merged"),
	})
}

func (s *Server) isMerged(w http.ResponseWriter, req *http.Request, r *Repo) {
	p := r.pullFor(w, req)
	if p == nil {
		return
	}
	if !p.merged {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createComment(w http.ResponseWriter, req *http.Request, r *Repo) {
	p := r.pullFor(w, req)
	if p == nil {
		return
	}
	var body struct {
		Body string `json:"body"`
	}
	if !decode(w, req, &body) {
		return
	}
	if body.Body == "" {
		validationFailed(w, "IssueComment", "body", "missing_field", "")
		return
	}
	id := s.id()
	c := &github.IssueComment{
		ID: github.Int64(id), NodeID: github.String(fmt.Sprintf("IC_%d", id)), Body: github.String(body.Body),
		User:      &github.User{Login: github.String("mainline[bot]")},
		CreatedAt: s.now(), UpdatedAt: s.now(),
		HTMLURL:  github.String(fmt.Sprintf("%s/%s/pull/%d#issuecomment-%d", s.URL, r.FullName(), p.number, id)),
		IssueURL: github.String(s.apiURL(fmt.Sprintf("/repos/%s/issues/%d", r.FullName(), p.number))),
	}
	r.comments[p.number] = append(r.comments[p.number], c)
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listComments(w http.ResponseWriter, req *http.Request, r *Repo) {
	if p := r.pullFor(w, req); p != nil {
		paginate(w, req, r.comments[p.number])
	}
}
