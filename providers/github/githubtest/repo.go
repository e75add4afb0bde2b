package githubtest

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-github/v60/github"
)

// Repo is one repository of the fake. Its methods seed and inspect state
// from the test side, without going through the API, and are safe for
// concurrent use.
type Repo struct {
	s             *Server
	owner, name   string
	id            int64
	defaultBranch string

	blobs    map[string][]byte
	trees    map[string]map[string]string // flat: path → blob SHA
	commits  map[string]*commit
	tagObjs  map[string]*github.Tag
	refs     map[string]string // full ref name → SHA (commit or tag object)
	statuses map[string][]*github.RepoStatus
	checks   []*github.CheckRun
	deploys  []*deployment
	pulls    []*pull
	comments map[int][]*github.IssueComment
	nextPull int
}

type commit struct {
	sha     string
	tree    string
	parents []string
	message string
	author  github.CommitAuthor
}

type deployment struct {
	d        *github.Deployment
	statuses []*github.DeploymentStatus
}

type pull struct {
	number   int
	title    string
	body     string
	head     string
	base     string
	headSHA  string // frozen once closed
	baseSHA  string // frozen once closed
	state    string
	merged   bool
	mergeSHA string
	created  github.Timestamp
	updated  github.Timestamp
	closed   *github.Timestamp
}

// AddRepo creates an empty repository whose default branch will be
// defaultBranch once it has a commit.
func (s *Server) AddRepo(owner, name, defaultBranch string) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Repo{
		s:             s,
		owner:         owner,
		name:          name,
		id:            s.id(),
		defaultBranch: defaultBranch,
		blobs:         make(map[string][]byte),
		trees:         make(map[string]map[string]string),
		commits:       make(map[string]*commit),
		tagObjs:       make(map[string]*github.Tag),
		refs:          make(map[string]string),
		statuses:      make(map[string][]*github.RepoStatus),
		comments:      make(map[int][]*github.IssueComment),
	}
	s.repos[strings.ToLower(owner+"/"+name)] = r
	return r
}

// FullName returns "owner/name".
func (r *Repo) FullName() string { return r.owner + "/" + r.name }

// Commit adds a commit on branch writing files (path → content) over the
// branch's tree, as a developer's push would, and returns its SHA. A
// missing branch is created from the default branch (or as a root commit in
// an empty repository).
func (r *Repo) Commit(branch, message string, files map[string]string) string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	parent := r.refs["refs/heads/"+branch]
	if parent == "" {
		parent = r.refs["refs/heads/"+r.defaultBranch]
	}
	tree := map[string]string{}
	var parents []string
	if parent != "" {
		tree = maps.Clone(r.trees[r.commits[parent].tree])
		parents = []string{parent}
	}
	for p, c := range files {
		tree[p] = r.putBlob([]byte(c))
	}
	sha := r.putCommit(r.putTree(tree), parents, message, github.CommitAuthor{
		Name: github.String("Dev"), Email: github.String("dev@example.com"), Date: r.s.now(),
	})
	r.refs["refs/heads/"+branch] = sha
	return sha
}

// Head returns the commit at the tip of branch, or "".
func (r *Repo) Head(branch string) string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.refs["refs/heads/"+branch]
}

// Ref returns what the full ref name points at (for an annotated tag, the
// tag object), or "".
func (r *Repo) Ref(name string) string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.refs[name]
}

// File returns the content of path at the commit ref names.
func (r *Repo) File(ref, path string) (string, bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	sha, ok := r.resolve(ref)
	if !ok {
		return "", false
	}
	b, ok := r.trees[r.commits[sha].tree][path]
	if !ok {
		return "", false
	}
	return string(r.blobs[b]), true
}

// AddCheckRun records a check run on sha, as a GitHub App would create it.
// status is "queued", "in_progress" or "completed"; conclusion (for
// completed runs) is "success", "failure", "neutral", "cancelled",
// "skipped", "timed_out" or "action_required".
func (r *Repo) AddCheckRun(sha, name, status, conclusion string) int64 {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	run := &github.CheckRun{ID: github.Int64(r.s.id()), Name: &name, HeadSHA: &sha, Status: &status, StartedAt: r.s.now()}
	if conclusion != "" {
		run.Conclusion = &conclusion
		run.CompletedAt = r.s.now()
	}
	r.checks = append(r.checks, run)
	return *run.ID
}

// Statuses returns every commit status set on sha, oldest first.
func (r *Repo) Statuses(sha string) []github.RepoStatus {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	var out []github.RepoStatus
	for _, st := range r.statuses[sha] {
		out = append(out, *st)
	}
	return out
}

// DeploymentRecord is a deployment as the fake recorded it.
type DeploymentRecord struct {
	ID          int64
	Ref, SHA    string
	Environment string
	Description string
	States      []string // the states of its statuses, oldest first
}

// Deployment returns deployment id.
func (r *Repo) Deployment(id int64) (DeploymentRecord, bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	for _, d := range r.deploys {
		if d.d.GetID() == id {
			rec := DeploymentRecord{ID: id, Ref: d.d.GetRef(), SHA: d.d.GetSHA(), Environment: d.d.GetEnvironment(), Description: d.d.GetDescription()}
			for _, st := range d.statuses {
				rec.States = append(rec.States, st.GetState())
			}
			return rec, true
		}
	}
	return DeploymentRecord{}, false
}

// PullRequest returns pull request number as the API would.
func (r *Repo) PullRequest(number int) (*github.PullRequest, bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	p := r.pull(number)
	if p == nil {
		return nil, false
	}
	return r.pullJSON(p), true
}

// Comments returns the bodies of the comments on issue or pull request
// number, oldest first.
func (r *Repo) Comments(number int) []string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	var out []string
	for _, c := range r.comments[number] {
		out = append(out, c.GetBody())
	}
	return out
}

// The helpers below must be called with s.mu held.

func hash(kind string, parts ...string) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", kind, len(strings.Join(parts, "")))
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (r *Repo) putBlob(b []byte) string {
	sha := hash("blob", string(b)) // equals git's blob SHA
	r.blobs[sha] = b
	return sha
}

func (r *Repo) putTree(files map[string]string) string {
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(&b, "100644 %s\x00%s\n", p, files[p])
	}
	sha := hash("tree", b.String())
	r.trees[sha] = files
	return sha
}

func (r *Repo) putCommit(tree string, parents []string, message string, author github.CommitAuthor) string {
	r.s.seq++
	sha := hash("commit", "tree ", tree, "\nparents ", strings.Join(parents, " "), "\n", message, fmt.Sprint(r.s.seq))
	r.commits[sha] = &commit{sha: sha, tree: tree, parents: parents, message: message, author: author}
	return sha
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// peel follows tag objects to the commit they name.
func (r *Repo) peel(sha string) (string, bool) {
	for range 10 {
		if _, ok := r.commits[sha]; ok {
			return sha, true
		}
		t, ok := r.tagObjs[sha]
		if !ok {
			return "", false
		}
		sha = t.GetObject().GetSHA()
	}
	return "", false
}

// resolve finds the commit ref names: a (possibly abbreviated) SHA, a
// branch, a tag, or a full or "heads/"/"tags/" ref name.
func (r *Repo) resolve(ref string) (string, bool) {
	for _, name := range []string{ref, "refs/" + ref, "refs/heads/" + ref, "refs/tags/" + ref} {
		if sha, ok := r.refs[name]; ok {
			return r.peel(sha)
		}
	}
	if hexSHA.MatchString(ref) {
		if _, ok := r.commits[ref]; ok {
			return ref, true
		}
		if len(ref) < 40 {
			var found string
			for sha := range r.commits {
				if strings.HasPrefix(sha, ref) {
					if found != "" {
						return "", false // ambiguous
					}
					found = sha
				}
			}
			return found, found != ""
		}
	}
	return "", false
}

// ancestors returns sha and every commit reachable from it.
func (r *Repo) ancestors(sha string) map[string]bool {
	seen := map[string]bool{}
	queue := []string{sha}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c] {
			continue
		}
		seen[c] = true
		queue = append(queue, r.commits[c].parents...)
	}
	return seen
}

// mergeBase returns the nearest common ancestor of a and b, or "".
func (r *Repo) mergeBase(a, b string) string {
	inA := r.ancestors(a)
	seen := map[string]bool{}
	queue := []string{b}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if inA[c] {
			return c
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		queue = append(queue, r.commits[c].parents...)
	}
	return ""
}

// merge3 merges the trees of ours and theirs file by file against their
// merge base; ok is false on a conflict.
func (r *Repo) merge3(ours, theirs string) (map[string]string, bool) {
	base := map[string]string{}
	if mb := r.mergeBase(ours, theirs); mb != "" {
		base = r.trees[r.commits[mb].tree]
	}
	o, t := r.trees[r.commits[ours].tree], r.trees[r.commits[theirs].tree]
	out := map[string]string{}
	paths := map[string]bool{}
	for _, m := range []map[string]string{base, o, t} {
		for p := range m {
			paths[p] = true
		}
	}
	for p := range paths {
		b, bo := base[p]
		x, xo := o[p]
		y, yo := t[p]
		var v string
		var present bool
		switch {
		case y == b && yo == bo:
			v, present = x, xo
		case x == b && xo == bo:
			v, present = y, yo
		case x == y && xo == yo:
			v, present = x, xo
		default:
			return nil, false
		}
		if present {
			out[p] = v
		}
	}
	return out, true
}

func (r *Repo) pull(number int) *pull {
	for _, p := range r.pulls {
		if p.number == number {
			return p
		}
	}
	return nil
}

func (r *Repo) repoJSON() *github.Repository {
	s := r.s
	return &github.Repository{
		ID:            github.Int64(r.id),
		NodeID:        github.String(fmt.Sprintf("R_%d", r.id)),
		Name:          github.String(r.name),
		FullName:      github.String(r.FullName()),
		Owner:         &github.User{Login: github.String(r.owner), Type: github.String("Organization")},
		Private:       github.Bool(false),
		HTMLURL:       github.String(s.URL + "/" + r.FullName()),
		CloneURL:      github.String(s.URL + "/" + r.FullName() + ".git"),
		URL:           github.String(s.apiURL("/repos/" + r.FullName())),
		DefaultBranch: github.String(r.defaultBranch),
		Visibility:    github.String("public"),
	}
}

func (r *Repo) pullJSON(p *pull) *github.PullRequest {
	head, base := p.headSHA, p.baseSHA
	if p.state == "open" {
		head, base = r.refs["refs/heads/"+p.head], r.refs["refs/heads/"+p.base]
	}
	out := &github.PullRequest{
		ID:        github.Int64(int64(r.id*100000 + int64(p.number))),
		Number:    github.Int(p.number),
		State:     github.String(p.state),
		Title:     github.String(p.title),
		Body:      github.String(p.body),
		CreatedAt: &p.created,
		UpdatedAt: &p.updated,
		ClosedAt:  p.closed,
		Merged:    github.Bool(p.merged),
		HTMLURL:   github.String(fmt.Sprintf("%s/%s/pull/%d", r.s.URL, r.FullName(), p.number)),
		URL:       github.String(r.s.apiURL(fmt.Sprintf("/repos/%s/pulls/%d", r.FullName(), p.number))),
		Head: &github.PullRequestBranch{
			Label: github.String(r.owner + ":" + p.head), Ref: github.String(p.head), SHA: github.String(head), Repo: r.repoJSON(),
		},
		Base: &github.PullRequestBranch{
			Label: github.String(r.owner + ":" + p.base), Ref: github.String(p.base), SHA: github.String(base), Repo: r.repoJSON(),
		},
		User: &github.User{Login: github.String("mainline[bot]")},
	}
	if p.merged {
		out.MergeCommitSHA = github.String(p.mergeSHA)
		out.MergedAt = p.closed
	}
	return out
}

func (r *Repo) refJSON(name, sha string) *github.Reference {
	typ := "commit"
	if _, ok := r.tagObjs[sha]; ok {
		typ = "tag"
	}
	return &github.Reference{
		Ref:    github.String(name),
		NodeID: github.String("REF_" + name),
		URL:    github.String(r.s.apiURL("/repos/" + r.FullName() + "/git/" + name)),
		Object: &github.GitObject{SHA: github.String(sha), Type: github.String(typ), URL: github.String(r.s.apiURL("/repos/" + r.FullName() + "/git/" + typ + "s/" + sha))},
	}
}

func (r *Repo) commitJSON(c *commit) *github.Commit {
	var parents []*github.Commit
	for _, p := range c.parents {
		parents = append(parents, &github.Commit{SHA: github.String(p), URL: github.String(r.s.apiURL("/repos/" + r.FullName() + "/git/commits/" + p))})
	}
	author := c.author
	return &github.Commit{
		SHA:       github.String(c.sha),
		NodeID:    github.String("C_" + c.sha),
		Message:   github.String(c.message),
		Author:    &author,
		Committer: &author,
		Tree:      &github.Tree{SHA: github.String(c.tree)},
		Parents:   parents,
		URL:       github.String(r.s.apiURL("/repos/" + r.FullName() + "/git/commits/" + c.sha)),
	}
}
