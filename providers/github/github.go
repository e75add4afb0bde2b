package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/mainline-cd/mainline/providers"
)

var (
	_ providers.SCM          = (*Repo)(nil)
	_ providers.Source       = (*Repo)(nil)
	_ providers.StatusSetter = (*Repo)(nil)
	_ providers.Deployments  = (*Repo)(nil)
	_ providers.PullRequests = (*Repo)(nil)
)

// DefaultMaxWait bounds how long one request waits out rate limits in total
// before it fails with go-github's rate limit error.
const DefaultMaxWait = 5 * time.Minute

// Option configures a Repo.
type Option func(*Repo)

// WithClock sets the clock rate limit waits use; the default is the system
// clock.
func WithClock(c Clock) Option { return func(r *Repo) { r.clock = c } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(r *Repo) { r.log = l } }

// WithMaxWait sets how long one request may wait out rate limits in total;
// zero makes rate limited requests fail at once.
func WithMaxWait(d time.Duration) Option { return func(r *Repo) { r.maxWait = d } }

// Repo is one GitHub repository. It is safe for concurrent use.
type Repo struct {
	owner, name string
	client      *gh.Client
	http        *http.Client // the client's, with rate limit waits
	clock       Clock
	log         *slog.Logger
	maxWait     time.Duration
	etags       etagCache
}

// New returns the repository owner/name reached through client. The Repo
// uses its own copy of client, whose transport waits out rate limits;
// client's authentication, base URL and user agent are kept.
func New(client *gh.Client, owner, name string, opts ...Option) *Repo {
	r := &Repo{
		owner:   owner,
		name:    name,
		clock:   systemClock{},
		log:     slog.New(slog.DiscardHandler),
		maxWait: DefaultMaxWait,
		etags:   etagCache{max: 256},
	}
	for _, o := range opts {
		o(r)
	}
	hc := client.Client() // a copy
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &rateLimitTransport{base: base, clock: r.clock, maxWait: r.maxWait, log: r.log}
	c := gh.NewClient(hc)
	c.BaseURL = client.BaseURL
	c.UploadURL = client.UploadURL
	c.UserAgent = client.UserAgent
	r.client = c
	r.http = hc
	return r
}

// NewFromToken returns the repository owner/name authenticated with token
// (a personal access token or an installation token). baseURL is empty for
// github.com, or a GitHub Enterprise Server's URL ("https://ghe.example.com"
// or its ".../api/v3/").
func NewFromToken(token, baseURL, owner, name string, opts ...Option) (*Repo, error) {
	c := gh.NewClient(nil).WithAuthToken(token)
	if baseURL != "" {
		var err error
		c, err = c.WithEnterpriseURLs(baseURL, baseURL)
		if err != nil {
			return nil, fmt.Errorf("github base URL %q: %w", baseURL, err)
		}
	}
	return New(c, owner, name, opts...), nil
}

// FullName returns "owner/name".
func (r *Repo) FullName() string { return r.owner + "/" + r.name }

// apiError maps go-github's errors to the providers sentinels, keeping the
// original in the chain.
func apiError(err error) error {
	var er *gh.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return err
	}
	msgs := []string{er.Message}
	for _, e := range er.Errors {
		msgs = append(msgs, e.Message)
	}
	all := strings.Join(msgs, "; ")
	switch code := er.Response.StatusCode; {
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %w", providers.ErrNotFound, err)
	case code == http.StatusUnprocessableEntity && strings.Contains(all, "already exists"):
		return fmt.Errorf("%w: %w", providers.ErrExists, err)
	case code == http.StatusUnprocessableEntity && (strings.Contains(all, "No commit found") ||
		strings.Contains(all, "No ref found") || strings.Contains(all, "Object does not exist")):
		return fmt.Errorf("%w: %w", providers.ErrNotFound, err)
	}
	return err
}

// escapeRef escapes each segment of a ref or path for use in a URL path.
func escapeRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// etagCache remembers the last answer to a conditional GET, by URL.
type etagCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]etagEntry
	order   []string // insertion order, for eviction
}

type etagEntry struct {
	etag string
	body []byte
}

func (c *etagCache) get(u string) (etagEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[u]
	return e, ok
}

func (c *etagCache) put(u string, e etagEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]etagEntry)
	}
	if _, ok := c.entries[u]; !ok {
		c.order = append(c.order, u)
		for len(c.order) > c.max {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.entries[u] = e
}

// getJSON GETs path (relative to the API base) with If-None-Match from the
// cache and decodes the answer, or the cached body on 304, into v.
func (r *Repo) getJSON(ctx context.Context, path string, v any) error {
	req, err := r.client.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	key := req.URL.String()
	cached, ok := r.etags.get(key)
	if ok {
		req.Header.Set("If-None-Match", cached.etag)
	}
	var body strings.Builder
	resp, err := r.client.Do(ctx, req, &body)
	var er *gh.ErrorResponse
	switch {
	case ok && errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotModified:
		return json.Unmarshal(cached.body, v)
	case err != nil:
		return apiError(err)
	}
	b := []byte(body.String())
	if etag := resp.Header.Get("ETag"); etag != "" {
		r.etags.put(key, etagEntry{etag: etag, body: b})
	}
	return json.Unmarshal(b, v)
}

// DefaultBranch returns the repository's default branch.
func (r *Repo) DefaultBranch(ctx context.Context) (string, error) {
	var repo gh.Repository
	if err := r.getJSON(ctx, fmt.Sprintf("repos/%s/%s", r.owner, r.name), &repo); err != nil {
		return "", fmt.Errorf("default branch of %s: %w", r.FullName(), err)
	}
	return repo.GetDefaultBranch(), nil
}

// HeadSHA returns the commit at the tip of branch.
func (r *Repo) HeadSHA(ctx context.Context, branch string) (string, error) {
	var ref gh.Reference
	if err := r.getJSON(ctx, fmt.Sprintf("repos/%s/%s/git/ref/heads/%s", r.owner, r.name, escapeRef(branch)), &ref); err != nil {
		return "", fmt.Errorf("head of %s in %s: %w", branch, r.FullName(), err)
	}
	return ref.GetObject().GetSHA(), nil
}

// Tags lists every tag with the commit it points at.
func (r *Repo) Tags(ctx context.Context) ([]providers.Tag, error) {
	var tags []providers.Tag
	opts := &gh.ListOptions{PerPage: 100}
	for {
		page, resp, err := r.client.Repositories.ListTags(ctx, r.owner, r.name, opts)
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", r.FullName(), apiError(err))
		}
		for _, t := range page {
			tags = append(tags, providers.Tag{Name: t.GetName(), SHA: t.GetCommit().GetSHA()})
		}
		if resp.NextPage == 0 {
			return tags, nil
		}
		opts.Page = resp.NextPage
	}
}

// CreateTag creates a tag object and then the ref refs/tags/name. GitHub
// creates refs atomically: of concurrent creators one succeeds, the others
// get 422 "Reference already exists", returned as providers.ErrExists. A
// loser leaves an unreferenced tag object behind, which GitHub collects.
func (r *Repo) CreateTag(ctx context.Context, name, sha, message string) error {
	if message == "" {
		message = name
	}
	tag, _, err := r.client.Git.CreateTag(ctx, r.owner, r.name, &gh.Tag{
		Tag:     gh.String(name),
		Message: gh.String(message),
		Object:  &gh.GitObject{SHA: gh.String(sha), Type: gh.String("commit")},
	})
	if err != nil {
		return fmt.Errorf("create tag %s on %s: %w", name, sha, apiError(err))
	}
	_, _, err = r.client.Git.CreateRef(ctx, r.owner, r.name, &gh.Reference{
		Ref:    gh.String("refs/tags/" + name),
		Object: &gh.GitObject{SHA: tag.SHA},
	})
	if err != nil {
		return fmt.Errorf("create tag %s on %s: %w", name, sha, apiError(err))
	}
	return nil
}

// ReadFile returns a file's content at ref. Files over GitHub's 1 MB
// contents limit are fetched through the blob API.
func (r *Repo) ReadFile(ctx context.Context, ref, path string) ([]byte, error) {
	file, dir, _, err := r.client.Repositories.GetContents(ctx, r.owner, r.name, path, &gh.RepositoryContentGetOptions{Ref: ref})
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, ref, apiError(err))
	}
	if file == nil || dir != nil {
		return nil, fmt.Errorf("read %s at %s: is a directory", path, ref)
	}
	if file.GetType() != "file" {
		return nil, fmt.Errorf("read %s at %s: is a %s, not a file", path, ref, file.GetType())
	}
	if file.GetEncoding() == "none" {
		b, _, err := r.client.Git.GetBlobRaw(ctx, r.owner, r.name, file.GetSHA())
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", path, ref, apiError(err))
		}
		return b, nil
	}
	s, err := file.GetContent()
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, ref, err)
	}
	return []byte(s), nil
}

// Archive writes the tree at ref to w as an uncompressed tar, paths relative
// to the repository root like git archive's: it follows GitHub's tarball
// link, decompresses it and strips the single top directory GitHub adds.
func (r *Repo) Archive(ctx context.Context, ref string, w io.Writer) error {
	link, resp, err := r.client.Repositories.GetArchiveLink(ctx, r.owner, r.name, gh.Tarball, &gh.RepositoryContentGetOptions{Ref: ref}, 1)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("archive %s: %w", ref, providers.ErrNotFound)
		}
		return fmt.Errorf("archive %s: %w", ref, apiError(err))
	}
	// The link is pre-signed. Send our credentials only to the API's own
	// host (GitHub Enterprise serves archives there), never elsewhere.
	hc := &http.Client{Transport: http.DefaultTransport}
	if link.Host == r.client.BaseURL.Host {
		hc = r.http
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link.String(), nil)
	if err != nil {
		return fmt.Errorf("archive %s: %w", ref, err)
	}
	dl, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("archive %s: download: %w", ref, err)
	}
	defer dl.Body.Close()
	if dl.StatusCode != http.StatusOK {
		return fmt.Errorf("archive %s: download: %s", ref, dl.Status)
	}
	if err := untarStripped(dl.Body, w); err != nil {
		return fmt.Errorf("archive %s: %w", ref, err)
	}
	return nil
}
