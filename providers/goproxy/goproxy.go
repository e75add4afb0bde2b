// Package goproxy implements providers.ModuleIndex over the Go module proxy
// protocol (https://go.dev/ref/mod#goproxy-protocol): GET $base/$module/@v/list,
// $base/$module/@latest and $base/$module/@v/$version.info, with module paths
// and versions case-encoded ("!" + lower case) as the go tool does.
//
// A proxy list is read as GOPROXY is: entries separated by "," fall through
// to the next entry only when a proxy answers 404 or 410, entries separated
// by "|" fall through on any error, and "off" ends the list with an error.
// Mainline never fetches modules from their version control systems, so
// "direct" is skipped. Modules matching GONOPROXY (GOPRIVATE when GONOPROXY
// is unset) are looked up only through the proxies configured for private
// modules, or not at all: their lookups fail with an error wrapping
// ErrPrivate, which says why.
//
// An Index is meant to be shared by every project of a run: answers are
// cached in memory for a while (TTL) and concurrent lookups of one module
// share one request, so a hundred repositories requiring the same module
// cost one round trip.
//
// Imported by cmd/mainline, which builds the Index dependents day uses.
package goproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/singleflight"

	"github.com/mainline-cd/mainline/providers"
)

var _ providers.ModuleIndex = (*Index)(nil)

// ErrPrivate is wrapped by lookups of modules that match GONOPROXY (or
// GOPRIVATE) when no proxy is configured for private modules.
var ErrPrivate = errors.New("private module: no proxy configured for it")

// ErrDisabled is wrapped by lookups that reached "off" in the proxy list.
var ErrDisabled = errors.New("module lookups disabled by GOPROXY=off")

// Clock tells the time, for cache expiry.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// DefaultTTL is how long answers are kept when Config.TTL is zero.
const DefaultTTL = 10 * time.Minute

// maxBody bounds what is read from a proxy answer: a version list of a very
// busy module is a few tens of kilobytes.
const maxBody = 4 << 20

// Config configures an Index. The zero value asks https://proxy.golang.org.
type Config struct {
	// Proxy is a GOPROXY list; empty means "https://proxy.golang.org".
	Proxy string
	// Private is GOPRIVATE: comma-separated glob patterns of module path
	// prefixes that are private.
	Private string
	// NoProxy is GONOPROXY; empty means Private.
	NoProxy string
	// PrivateProxy is a GOPROXY list used for modules matching NoProxy (a
	// company proxy that can read private repositories). Empty: those
	// modules are not looked up.
	PrivateProxy string
	// Client makes the requests; nil is a client with a 30 s timeout.
	// Lookups shared by several callers are not cancelled with any one
	// caller's context, so the client's timeout bounds them.
	Client *http.Client
	// TTL is how long answers (and "not found") are kept; DefaultTTL when
	// zero, and a negative TTL disables the cache (requests are still
	// shared by concurrent callers).
	TTL time.Duration
	// Clock is the source of time for the cache; nil is the system clock.
	Clock Clock
}

// proxy is one entry of a proxy list.
type proxy struct {
	url        string // base URL without a trailing slash ("file:///dir" or "https://…")
	fallAlways bool   // separated from the next by "|": fall through on any error
}

// list is a parsed proxy list.
type list struct {
	proxies []proxy
	off     bool // the list reaches "off" after proxies
}

// Index is a providers.ModuleIndex over one or two proxy lists. It is safe
// for concurrent use.
type Index struct {
	public, private list
	privatePatterns string
	hasPrivateProxy bool
	client          *http.Client
	ttl             time.Duration
	clock           Clock

	group singleflight.Group
	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	val     any
	err     error
	expires time.Time
}

// New returns an Index for cfg. It fails if a proxy list holds something
// that is neither a URL nor "direct" or "off".
func New(cfg Config) (*Index, error) {
	ix := &Index{client: cfg.Client, ttl: cfg.TTL, clock: cfg.Clock, cache: map[string]entry{}}
	if ix.client == nil {
		ix.client = &http.Client{Timeout: 30 * time.Second}
	}
	if ix.ttl == 0 {
		ix.ttl = DefaultTTL
	}
	if ix.clock == nil {
		ix.clock = systemClock{}
	}
	proxyList := cfg.Proxy
	if proxyList == "" {
		proxyList = "https://proxy.golang.org"
	}
	var err error
	if ix.public, err = parseList(proxyList); err != nil {
		return nil, fmt.Errorf("GOPROXY: %w", err)
	}
	if cfg.PrivateProxy != "" {
		if ix.private, err = parseList(cfg.PrivateProxy); err != nil {
			return nil, fmt.Errorf("private proxy: %w", err)
		}
		ix.hasPrivateProxy = true
	}
	ix.privatePatterns = cfg.NoProxy
	if ix.privatePatterns == "" {
		ix.privatePatterns = cfg.Private
	}
	return ix, nil
}

// parseList parses a GOPROXY value. "direct" is dropped: Mainline only
// reads proxies.
func parseList(s string) (list, error) {
	var l list
	for s != "" {
		var item string
		fallAlways := false
		if i := strings.IndexAny(s, ",|"); i >= 0 {
			item, fallAlways, s = s[:i], s[i] == '|', s[i+1:]
		} else {
			item, s = s, ""
		}
		item = strings.TrimSpace(item)
		switch item {
		case "":
			continue
		case "direct", "noproxy":
			continue
		case "off":
			l.off = true
			return l, nil
		}
		u, err := url.Parse(item)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file") {
			return list{}, fmt.Errorf("%q is not a proxy URL, direct or off", redactURL(item))
		}
		l.proxies = append(l.proxies, proxy{url: strings.TrimSuffix(item, "/"), fallAlways: fallAlways})
	}
	return l, nil
}

// Forget drops what the cache knows about module path, so the next lookup
// asks the proxy again (after a library was tagged during a run).
func (ix *Index) Forget(path string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.cache, "list "+path)
	delete(ix.cache, "latest "+path)
}

// Versions lists the versions of module path the proxy knows, in semver
// order, oldest first. A module without tagged versions lists the version
// @latest names (a pseudo-version), as the go tool does. A module no proxy
// knows is an error wrapping providers.ErrNotFound.
func (ix *Index) Versions(ctx context.Context, path string) ([]string, error) {
	v, err := ix.cached(ctx, "list "+path, func(ctx context.Context) (any, error) {
		return ix.versions(ctx, path)
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]string)), nil
}

// Published returns when version of path was published (the Time of its
// .info).
func (ix *Index) Published(ctx context.Context, path, version string) (time.Time, error) {
	v, err := ix.cached(ctx, "info "+path+"@"+version, func(ctx context.Context) (any, error) {
		info, err := ix.info(ctx, path, "@v/"+version+".info", version)
		return info.Time, err
	})
	if err != nil {
		return time.Time{}, err
	}
	return v.(time.Time), nil
}

// Info is a proxy's .info answer.
type Info struct {
	Version string
	Time    time.Time
}

// Latest returns what the proxy's @latest names for path.
func (ix *Index) Latest(ctx context.Context, path string) (Info, error) {
	v, err := ix.cached(ctx, "latest "+path, func(ctx context.Context) (any, error) {
		return ix.info(ctx, path, "@latest", "")
	})
	if err != nil {
		return Info{}, err
	}
	return v.(Info), nil
}

// cached returns the cached answer for key, or runs fetch once for all
// concurrent callers and caches what it returns. Context errors are not
// cached: they belong to one caller.
func (ix *Index) cached(ctx context.Context, key string, fetch func(context.Context) (any, error)) (any, error) {
	now := ix.clock.Now()
	ix.mu.Lock()
	if e, ok := ix.cache[key]; ok && now.Before(e.expires) {
		ix.mu.Unlock()
		return e.val, e.err
	}
	ix.mu.Unlock()
	ch := ix.group.DoChan(key, func() (any, error) {
		// The shared fetch outlives any one caller's cancellation.
		v, err := fetch(context.WithoutCancel(ctx))
		if ix.ttl > 0 && (err == nil || errors.Is(err, providers.ErrNotFound)) {
			ix.mu.Lock()
			ix.prune(now)
			ix.cache[key] = entry{val: v, err: err, expires: ix.clock.Now().Add(ix.ttl)}
			ix.mu.Unlock()
		}
		return v, err
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// maxEntries bounds the cache; expired entries are dropped when it is full.
const maxEntries = 100000

func (ix *Index) prune(now time.Time) {
	if len(ix.cache) < maxEntries {
		return
	}
	for k, e := range ix.cache {
		if !now.Before(e.expires) {
			delete(ix.cache, k)
		}
	}
	if len(ix.cache) >= maxEntries {
		clear(ix.cache)
	}
}

func (ix *Index) versions(ctx context.Context, path string) ([]string, error) {
	body, err := ix.get(ctx, path, "@v/list")
	if err != nil {
		return nil, err
	}
	var vs []string
	for _, line := range strings.Split(string(body), "\n") {
		// A line may carry more fields after the version; the version is
		// the first.
		f := strings.Fields(line)
		if len(f) == 0 || !semver.IsValid(f[0]) {
			continue
		}
		vs = append(vs, f[0])
	}
	if len(vs) == 0 {
		info, err := ix.info(ctx, path, "@latest", "")
		switch {
		case errors.Is(err, providers.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, err
		}
		vs = append(vs, info.Version)
	}
	semver.Sort(vs)
	return slices.Compact(vs), nil
}

func (ix *Index) info(ctx context.Context, path, file, version string) (Info, error) {
	if version != "" {
		ev, err := module.EscapeVersion(version)
		if err != nil {
			return Info{}, fmt.Errorf("module %s@%s: %w", path, version, err)
		}
		file = "@v/" + ev + ".info"
	}
	body, err := ix.get(ctx, path, file)
	if err != nil {
		return Info{}, err
	}
	var info Info
	if err := json.Unmarshal(body, &info); err != nil {
		return Info{}, fmt.Errorf("module %s %s: %w", path, file, err)
	}
	if !semver.IsValid(info.Version) {
		return Info{}, fmt.Errorf("module %s %s: invalid version %q", path, file, info.Version)
	}
	return info, nil
}

// get fetches file of module path from the first proxy of the right list
// that has it.
func (ix *Index) get(ctx context.Context, path, file string) ([]byte, error) {
	esc, err := module.EscapePath(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	l := ix.public
	if ix.privatePatterns != "" && module.MatchPrefixPatterns(ix.privatePatterns, path) {
		if !ix.hasPrivateProxy {
			return nil, fmt.Errorf("module %s matches GONOPROXY/GOPRIVATE %q: %w", path, ix.privatePatterns, ErrPrivate)
		}
		l = ix.private
	}
	var errs []error
	for _, p := range l.proxies {
		body, err := ix.fetch(ctx, p.url+"/"+esc+"/"+file)
		if err == nil {
			return body, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
		if !p.fallAlways && !errors.Is(err, providers.ErrNotFound) {
			return nil, fmt.Errorf("module %s: %w", path, err)
		}
	}
	if l.off {
		errs = append(errs, ErrDisabled)
		return nil, fmt.Errorf("module %s: %w", path, errors.Join(errs...))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("module %s: no proxy to ask (Mainline never uses direct): %w", path, providers.ErrNotFound)
	}
	return nil, fmt.Errorf("module %s: %w", path, errors.Join(errs...))
}

// fetch reads one URL; 404 and 410 wrap providers.ErrNotFound. Errors never
// show a URL's password.
func (ix *Index) fetch(ctx context.Context, rawURL string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(rawURL, "file://"); ok {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rest, err)
		}
		data, err := os.ReadFile(filepath.FromSlash(u.Path))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", u.Path, providers.ErrNotFound)
		}
		return data, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(rawURL), err)
	}
	resp, err := ix.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", redactURL(rawURL), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(rawURL), err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("GET %s: answer larger than %d bytes", redactURL(rawURL), maxBody)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("GET %s: %s: %w", redactURL(rawURL), resp.Status, providers.ErrNotFound)
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return nil, fmt.Errorf("GET %s: %s: %s", redactURL(rawURL), resp.Status, msg)
}

// redactURL hides the password of a URL with user information.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
