package githubtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-github/v60/github"
)

// handler is an API handler run with s.mu held and the repository found.
type handler func(w http.ResponseWriter, req *http.Request, r *Repo)

func (s *Server) routes(mux *http.ServeMux) {
	h := func(pattern string, fn handler) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			r := s.repo(w, req)
			if r == nil {
				return
			}
			fn(w, req, r)
		})
	}
	const p = "/repos/{owner}/{repo}"
	h("GET "+p, s.getRepo)
	h("GET "+p+"/branches/{branch...}", s.getBranch)
	h("GET "+p+"/git/ref/{ref...}", s.getRef)
	h("GET "+p+"/git/matching-refs/{ref...}", s.matchingRefs)
	h("POST "+p+"/git/refs", s.createRef)
	h("PATCH "+p+"/git/refs/{ref...}", s.updateRef)
	h("DELETE "+p+"/git/refs/{ref...}", s.deleteRef)
	h("POST "+p+"/git/tags", s.createTag)
	h("GET "+p+"/git/tags/{sha}", s.getTag)
	h("POST "+p+"/git/blobs", s.createBlob)
	h("GET "+p+"/git/blobs/{sha}", s.getBlob)
	h("POST "+p+"/git/trees", s.createTree)
	h("GET "+p+"/git/trees/{sha}", s.getTree)
	h("POST "+p+"/git/commits", s.createCommit)
	h("GET "+p+"/git/commits/{sha}", s.getGitCommit)
	h("GET "+p+"/commits/{rest...}", s.commits)
	h("GET "+p+"/tags", s.listTags)
	h("GET "+p+"/contents/{path...}", s.getContents)
	h("GET "+p+"/tarball", s.tarball)
	h("GET "+p+"/tarball/{ref...}", s.tarball)
	h("POST "+p+"/statuses/{sha}", s.createStatus)
	h("POST "+p+"/check-runs", s.createCheckRun)
	h("PATCH "+p+"/check-runs/{id}", s.updateCheckRun)
	h("POST "+p+"/deployments", s.createDeployment)
	h("GET "+p+"/deployments", s.listDeployments)
	h("GET "+p+"/deployments/{id}", s.getDeployment)
	h("POST "+p+"/deployments/{id}/statuses", s.createDeploymentStatus)
	h("GET "+p+"/deployments/{id}/statuses", s.listDeploymentStatuses)
	h("POST "+p+"/pulls", s.createPull)
	h("GET "+p+"/pulls", s.listPulls)
	h("GET "+p+"/pulls/{number}", s.getPull)
	h("PATCH "+p+"/pulls/{number}", s.editPull)
	h("PUT "+p+"/pulls/{number}/merge", s.mergePull)
	h("GET "+p+"/pulls/{number}/merge", s.isMerged)
	h("POST "+p+"/issues/{number}/comments", s.createComment)
	h("GET "+p+"/issues/{number}/comments", s.listComments)
	s.userRoutes(mux)
	mux.HandleFunc("/", s.unmodelled)
}

func (s *Server) getRepo(w http.ResponseWriter, req *http.Request, r *Repo) {
	writeJSON(w, http.StatusOK, r.repoJSON())
}

func (s *Server) getBranch(w http.ResponseWriter, req *http.Request, r *Repo) {
	name := req.PathValue("branch")
	sha, ok := r.refs["refs/heads/"+name]
	if !ok {
		fail(w, http.StatusNotFound, "Branch not found")
		return
	}
	writeJSON(w, http.StatusOK, &github.Branch{
		Name:      github.String(name),
		Commit:    &github.RepositoryCommit{SHA: github.String(sha), Commit: r.commitJSON(r.commits[sha])},
		Protected: github.Bool(false),
	})
}

func (s *Server) getRef(w http.ResponseWriter, req *http.Request, r *Repo) {
	name := "refs/" + req.PathValue("ref")
	sha, ok := r.refs[name]
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, r.refJSON(name, sha))
}

func (s *Server) matchingRefs(w http.ResponseWriter, req *http.Request, r *Repo) {
	prefix := "refs/" + req.PathValue("ref")
	var out []*github.Reference
	for _, name := range slices.Sorted(maps.Keys(r.refs)) {
		if strings.HasPrefix(name, prefix) {
			out = append(out, r.refJSON(name, r.refs[name]))
		}
	}
	paginate(w, req, out)
}

func (s *Server) createRef(w http.ResponseWriter, req *http.Request, r *Repo) {
	var body struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if !decode(w, req, &body) {
		return
	}
	if !strings.HasPrefix(body.Ref, "refs/") || strings.Count(body.Ref, "/") < 2 {
		fail(w, http.StatusUnprocessableEntity, "Reference name must start with 'refs/' and have at least two slashes.")
		return
	}
	if !r.exists(body.SHA) {
		fail(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	if _, ok := r.refs[body.Ref]; ok {
		fail(w, http.StatusUnprocessableEntity, "Reference already exists")
		return
	}
	r.refs[body.Ref] = body.SHA
	writeJSON(w, http.StatusCreated, r.refJSON(body.Ref, body.SHA))
}

func (r *Repo) exists(sha string) bool {
	_, c := r.commits[sha]
	_, t := r.tagObjs[sha]
	return c || t
}

func (s *Server) updateRef(w http.ResponseWriter, req *http.Request, r *Repo) {
	name := "refs/" + req.PathValue("ref")
	var body struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if !decode(w, req, &body) {
		return
	}
	old, ok := r.refs[name]
	if !ok {
		fail(w, http.StatusUnprocessableEntity, "Reference does not exist")
		return
	}
	if !r.exists(body.SHA) {
		fail(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	if !body.Force {
		if _, isCommit := r.commits[body.SHA]; !isCommit || !r.ancestors(body.SHA)[old] {
			fail(w, http.StatusUnprocessableEntity, "Update is not a fast forward")
			return
		}
	}
	r.refs[name] = body.SHA
	writeJSON(w, http.StatusOK, r.refJSON(name, body.SHA))
}

func (s *Server) deleteRef(w http.ResponseWriter, req *http.Request, r *Repo) {
	name := "refs/" + req.PathValue("ref")
	if _, ok := r.refs[name]; !ok {
		fail(w, http.StatusUnprocessableEntity, "Reference does not exist")
		return
	}
	delete(r.refs, name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createTag(w http.ResponseWriter, req *http.Request, r *Repo) {
	var body struct {
		Tag     string               `json:"tag"`
		Message string               `json:"message"`
		Object  string               `json:"object"`
		Type    string               `json:"type"`
		Tagger  *github.CommitAuthor `json:"tagger"`
	}
	if !decode(w, req, &body) {
		return
	}
	if body.Tag == "" || body.Object == "" || body.Type == "" {
		validationFailed(w, "Tag", "tag", "missing_field", "tag, object and type are required")
		return
	}
	if !r.exists(body.Object) {
		fail(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	tagger := body.Tagger
	if tagger == nil {
		tagger = &github.CommitAuthor{Name: github.String("mainline[bot]"), Email: github.String("mainline@localhost")}
	}
	if tagger.Date == nil {
		tagger.Date = s.now()
	}
	s.seq++
	sha := hash("tag", body.Tag, body.Object, body.Message, strconv.Itoa(s.seq))
	t := &github.Tag{
		Tag:     github.String(body.Tag),
		SHA:     github.String(sha),
		NodeID:  github.String("TAG_" + sha),
		Message: github.String(body.Message),
		Tagger:  tagger,
		URL:     github.String(s.apiURL("/repos/" + r.FullName() + "/git/tags/" + sha)),
		Object:  &github.GitObject{SHA: github.String(body.Object), Type: github.String(body.Type), URL: github.String(s.apiURL("/repos/" + r.FullName() + "/git/" + body.Type + "s/" + body.Object))},
	}
	r.tagObjs[sha] = t
	writeJSON(w, http.StatusCreated, t)
}

func (s *Server) getTag(w http.ResponseWriter, req *http.Request, r *Repo) {
	t, ok := r.tagObjs[req.PathValue("sha")]
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) createBlob(w http.ResponseWriter, req *http.Request, r *Repo) {
	var body struct {
		Content  *string `json:"content"`
		Encoding string  `json:"encoding"`
	}
	if !decode(w, req, &body) {
		return
	}
	if body.Content == nil {
		validationFailed(w, "Blob", "content", "missing_field", "content is required")
		return
	}
	b := []byte(*body.Content)
	switch body.Encoding {
	case "", "utf-8":
	case "base64":
		d, err := base64.StdEncoding.DecodeString(*body.Content)
		if err != nil {
			fail(w, http.StatusUnprocessableEntity, "Invalid base64 content")
			return
		}
		b = d
	default:
		validationFailed(w, "Blob", "encoding", "invalid", "encoding must be utf-8 or base64")
		return
	}
	sha := r.putBlob(b)
	writeJSON(w, http.StatusCreated, &github.Blob{SHA: github.String(sha), URL: github.String(s.apiURL("/repos/" + r.FullName() + "/git/blobs/" + sha))})
}

func (s *Server) getBlob(w http.ResponseWriter, req *http.Request, r *Repo) {
	sha := req.PathValue("sha")
	b, ok := r.blobs[sha]
	if !ok {
		notFound(w)
		return
	}
	if strings.Contains(req.Header.Get("Accept"), ".raw") {
		w.Header().Set("Content-Type", "application/vnd.github.raw")
		w.Write(b)
		return
	}
	writeJSON(w, http.StatusOK, &github.Blob{
		SHA: github.String(sha), Size: github.Int(len(b)), Encoding: github.String("base64"),
		Content: github.String(base64.StdEncoding.EncodeToString(b)),
		URL:     github.String(s.apiURL("/repos/" + r.FullName() + "/git/blobs/" + sha)),
	})
}

func (s *Server) treeJSON(r *Repo, sha string) *github.Tree {
	files := r.trees[sha]
	t := &github.Tree{SHA: github.String(sha), Truncated: github.Bool(false)}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		b := files[p]
		t.Entries = append(t.Entries, &github.TreeEntry{
			Path: github.String(p), Mode: github.String("100644"), Type: github.String("blob"),
			SHA: github.String(b), Size: github.Int(len(r.blobs[b])),
			URL: github.String(s.apiURL("/repos/" + r.FullName() + "/git/blobs/" + b)),
		})
	}
	return t
}

func (s *Server) createTree(w http.ResponseWriter, req *http.Request, r *Repo) {
	var body struct {
		BaseTree string `json:"base_tree"`
		Tree     []struct {
			Path    string  `json:"path"`
			Mode    string  `json:"mode"`
			Type    string  `json:"type"`
			SHA     *string `json:"sha"`
			Content *string `json:"content"`
		} `json:"tree"`
	}
	if !decode(w, req, &body) {
		return
	}
	files := map[string]string{}
	if body.BaseTree != "" {
		base, ok := r.trees[body.BaseTree]
		if !ok {
			validationFailed(w, "Tree", "base_tree", "invalid", "base_tree is not a valid tree oid")
			return
		}
		files = maps.Clone(base)
	}
	for _, e := range body.Tree {
		p := path.Clean(strings.TrimPrefix(e.Path, "/"))
		if e.Path == "" || p == "." || strings.HasPrefix(p, "..") {
			validationFailed(w, "Tree", "path", "invalid", "tree.path is invalid")
			return
		}
		if e.Type != "" && e.Type != "blob" {
			validationFailed(w, "Tree", "type", "invalid", "githubtest models only blob entries")
			return
		}
		switch {
		case e.Content != nil:
			files[p] = r.putBlob([]byte(*e.Content))
		case e.SHA != nil:
			if _, ok := r.blobs[*e.SHA]; !ok {
				validationFailed(w, "Tree", "sha", "invalid", "tree.sha "+*e.SHA+" is not a valid blob")
				return
			}
			files[p] = *e.SHA
		default: // "sha": null deletes the path
			delete(files, p)
			for f := range files {
				if strings.HasPrefix(f, p+"/") {
					delete(files, f)
				}
			}
		}
	}
	writeJSON(w, http.StatusCreated, s.treeJSON(r, r.putTree(files)))
}

func (s *Server) getTree(w http.ResponseWriter, req *http.Request, r *Repo) {
	sha := req.PathValue("sha")
	if _, ok := r.trees[sha]; !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.treeJSON(r, sha))
}

func (s *Server) createCommit(w http.ResponseWriter, req *http.Request, r *Repo) {
	var body struct {
		Message string               `json:"message"`
		Tree    string               `json:"tree"`
		Parents []string             `json:"parents"`
		Author  *github.CommitAuthor `json:"author"`
	}
	if !decode(w, req, &body) {
		return
	}
	if _, ok := r.trees[body.Tree]; !ok {
		fail(w, http.StatusUnprocessableEntity, "Tree SHA does not exist")
		return
	}
	for _, p := range body.Parents {
		if _, ok := r.commits[p]; !ok {
			fail(w, http.StatusUnprocessableEntity, "Parent SHA does not exist or is not a commit object")
			return
		}
	}
	author := github.CommitAuthor{Name: github.String("mainline[bot]"), Email: github.String("mainline@localhost")}
	if body.Author != nil {
		author = *body.Author
	}
	if author.Date == nil {
		author.Date = s.now()
	}
	sha := r.putCommit(body.Tree, body.Parents, body.Message, author)
	writeJSON(w, http.StatusCreated, r.commitJSON(r.commits[sha]))
}

func (s *Server) getGitCommit(w http.ResponseWriter, req *http.Request, r *Repo) {
	c, ok := r.commits[req.PathValue("sha")]
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, r.commitJSON(c))
}

// commits serves /commits/{ref}, /commits/{ref}/status,
// /commits/{ref}/statuses and /commits/{ref}/check-runs; refs may contain
// slashes, so the suffix is taken off by hand.
func (s *Server) commits(w http.ResponseWriter, req *http.Request, r *Repo) {
	rest := req.PathValue("rest")
	for _, suffix := range []string{"/status", "/statuses", "/check-runs"} {
		ref, ok := strings.CutSuffix(rest, suffix)
		if !ok {
			continue
		}
		sha, found := r.resolve(ref)
		if !found {
			fail(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref)
			return
		}
		switch suffix {
		case "/status":
			s.combinedStatus(w, req, r, sha)
		case "/statuses":
			all := slices.Clone(r.statuses[sha])
			slices.Reverse(all) // newest first, as GitHub lists them
			paginate(w, req, all)
		case "/check-runs":
			var runs []*github.CheckRun
			for _, c := range r.checks {
				if c.GetHeadSHA() == sha {
					runs = append(runs, c)
				}
			}
			writeJSON(w, http.StatusOK, &github.ListCheckRunsResults{Total: github.Int(len(runs)), CheckRuns: runs})
		}
		return
	}
	sha, ok := r.resolve(rest)
	if !ok {
		fail(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+rest)
		return
	}
	if strings.Contains(req.Header.Get("Accept"), "vnd.github.sha") {
		w.Header().Set("Content-Type", "application/vnd.github.sha")
		w.Write([]byte(sha))
		return
	}
	c := r.commits[sha]
	var parents []*github.Commit
	for _, p := range c.parents {
		parents = append(parents, &github.Commit{SHA: github.String(p)})
	}
	writeJSON(w, http.StatusOK, &github.RepositoryCommit{
		SHA: github.String(sha), Commit: r.commitJSON(c), Parents: parents,
		HTMLURL: github.String(s.URL + "/" + r.FullName() + "/commit/" + sha),
	})
}

// combinedStatus answers GitHub's combined status: the latest status per
// context; failure if any is error or failure, pending if any is pending or
// there are none, success otherwise.
func (s *Server) combinedStatus(w http.ResponseWriter, req *http.Request, r *Repo, sha string) {
	latest := map[string]*github.RepoStatus{}
	var order []string
	for _, st := range r.statuses[sha] {
		if _, ok := latest[st.GetContext()]; !ok {
			order = append(order, st.GetContext())
		}
		latest[st.GetContext()] = st
	}
	state := "success"
	if len(order) == 0 {
		state = "pending"
	}
	var list []*github.RepoStatus
	for _, c := range order {
		st := latest[c]
		list = append(list, st)
		switch st.GetState() {
		case "failure", "error":
			state = "failure"
		case "pending":
			if state != "failure" {
				state = "pending"
			}
		}
	}
	writeJSON(w, http.StatusOK, &github.CombinedStatus{
		State: github.String(state), SHA: github.String(sha), TotalCount: github.Int(len(list)), Statuses: list,
		CommitURL:     github.String(s.apiURL("/repos/" + r.FullName() + "/commits/" + sha)),
		RepositoryURL: github.String(s.apiURL("/repos/" + r.FullName())),
	})
}

func (s *Server) listTags(w http.ResponseWriter, req *http.Request, r *Repo) {
	var out []*github.RepositoryTag
	for _, name := range slices.Sorted(maps.Keys(r.refs)) {
		tag, ok := strings.CutPrefix(name, "refs/tags/")
		if !ok {
			continue
		}
		sha, ok := r.peel(r.refs[name])
		if !ok {
			continue
		}
		out = append(out, &github.RepositoryTag{
			Name:       github.String(tag),
			Commit:     &github.Commit{SHA: github.String(sha), URL: github.String(s.apiURL("/repos/" + r.FullName() + "/commits/" + sha))},
			TarballURL: github.String(s.apiURL("/repos/" + r.FullName() + "/tarball/refs/tags/" + tag)),
			ZipballURL: github.String(s.apiURL("/repos/" + r.FullName() + "/zipball/refs/tags/" + tag)),
		})
	}
	paginate(w, req, out)
}

// maxInlineContent is the size above which GitHub's contents API leaves
// "content" empty with encoding "none", and the blob API must be used.
const maxInlineContent = 1 << 20

func (s *Server) getContents(w http.ResponseWriter, req *http.Request, r *Repo) {
	ref := req.URL.Query().Get("ref")
	if ref == "" {
		ref = r.defaultBranch
	}
	sha, ok := r.resolve(ref)
	if !ok {
		fail(w, http.StatusNotFound, "No commit found for the ref "+ref)
		return
	}
	files := r.trees[r.commits[sha].tree]
	p := strings.Trim(req.PathValue("path"), "/")
	entry := func(p, typ, blob string) *github.RepositoryContent {
		c := &github.RepositoryContent{
			Type: github.String(typ), Name: github.String(path.Base(p)), Path: github.String(p),
			URL:     github.String(s.apiURL("/repos/" + r.FullName() + "/contents/" + p + "?ref=" + ref)),
			HTMLURL: github.String(s.URL + "/" + r.FullName() + "/blob/" + ref + "/" + p),
		}
		if typ == "file" {
			c.SHA = github.String(blob)
			c.Size = github.Int(len(r.blobs[blob]))
			c.GitURL = github.String(s.apiURL("/repos/" + r.FullName() + "/git/blobs/" + blob))
		}
		return c
	}
	if blob, ok := files[p]; ok {
		c := entry(p, "file", blob)
		b := r.blobs[blob]
		if len(b) > maxInlineContent {
			c.Encoding, c.Content = github.String("none"), github.String("")
		} else {
			c.Encoding, c.Content = github.String("base64"), github.String(base64.StdEncoding.EncodeToString(b))
		}
		writeJSON(w, http.StatusOK, c)
		return
	}
	prefix := p + "/"
	if p == "" {
		prefix = ""
	}
	seen := map[string]bool{}
	var dir []*github.RepositoryContent
	for _, f := range slices.Sorted(maps.Keys(files)) {
		rest, ok := strings.CutPrefix(f, prefix)
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(rest, "/")
		if seen[name] {
			continue
		}
		seen[name] = true
		if isDir {
			dir = append(dir, entry(prefix+name, "dir", ""))
		} else {
			dir = append(dir, entry(f, "file", files[f]))
		}
	}
	if len(dir) == 0 {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, dir)
}

// tarball answers GitHub's archive link: a 302 to a codeload URL.
func (s *Server) tarball(w http.ResponseWriter, req *http.Request, r *Repo) {
	ref := req.PathValue("ref")
	if ref == "" {
		ref = r.defaultBranch
	}
	sha, ok := r.resolve(ref)
	if !ok {
		notFound(w)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("%s/_codeload/%s/%s/legacy.tar.gz/%s", s.URL, r.owner, r.name, sha))
	w.WriteHeader(http.StatusFound)
}

// codeload serves a gzipped tar of a commit's tree the way GitHub's
// codeload does: a pax global header carrying the commit SHA, then every
// entry under one top directory "owner-repo-shortsha/".
func (s *Server) codeload(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	r := s.repos[strings.ToLower(req.PathValue("owner")+"/"+req.PathValue("repo"))]
	var files map[string]string
	var blobs map[string][]byte
	sha := req.PathValue("sha")
	if r != nil {
		if c, ok := r.commits[sha]; ok {
			files = maps.Clone(r.trees[c.tree])
			blobs = make(map[string][]byte, len(files))
			for _, b := range files {
				blobs[b] = r.blobs[b]
			}
		}
	}
	s.mu.Unlock()
	if files == nil {
		http.NotFound(w, req)
		return
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	top := fmt.Sprintf("%s-%s-%s/", r.owner, r.name, sha[:7])
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": sha}, Format: tar.FormatPAX})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: top, Mode: 0o775})
	dirs := map[string]bool{}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
			}
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: top + d + "/", Mode: 0o775})
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		b := blobs[files[p]]
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: top + p, Mode: 0o664, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%s-%s-%s.tar.gz", r.owner, r.name, sha[:7]))
	w.Write(buf.Bytes())
}
