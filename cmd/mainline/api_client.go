package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient talks to a running Mainline server through its JSON API
// (/api/v1), for the CLI commands when MAINLINE_URL is set. The token is
// sent as a bearer token and never appears in errors or output.
type apiClient struct {
	base  string // e.g. "http://127.0.0.1:8080", without a trailing slash
	token string
	http  *http.Client
}

// apiError is an error the server answered with; Code is stable.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server: %s (%s)", e.Message, e.Code)
}

// newAPIClient returns a client for MAINLINE_URL with MAINLINE_TOKEN, and
// false when MAINLINE_URL is unset (the CLI then works on the store
// directly).
func newAPIClient(getenv func(string) string) (*apiClient, bool, error) {
	raw := getenv("MAINLINE_URL")
	if raw == "" {
		return nil, false, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false, fmt.Errorf("MAINLINE_URL: want http(s)://host[:port], got %q", raw)
	}
	if u.User != nil {
		return nil, false, errors.New("MAINLINE_URL: put credentials in MAINLINE_TOKEN, not in the URL")
	}
	return &apiClient{
		base:  strings.TrimSuffix(u.String(), "/"),
		token: getenv("MAINLINE_TOKEN"),
		http:  &http.Client{Timeout: 30 * time.Second},
	}, true, nil
}

// projectPath is the API path of a project, each segment of its name
// escaped, with what follows it after "/-/".
func projectPath(name, rest string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	p := "/api/v1/projects/" + strings.Join(parts, "/")
	if rest != "" {
		p += "/-/" + rest
	}
	return p
}

// call sends a request and decodes a JSON answer into out.
func (c *apiClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Code string }
		if json.Unmarshal(data, &e) == nil && e.Code != "" {
			return &apiError{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
		}
		return &apiError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: resp.Status}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// action runs one of the API's actions on a project and returns the
// server's one-line account of what it did.
func (c *apiClient) action(ctx context.Context, project, name string, args map[string]string) (string, error) {
	var out struct{ Message string }
	if err := c.call(ctx, http.MethodPost, projectPath(project, name), args, &out); err != nil {
		return "", fmt.Errorf("%s %s: %w", name, project, err)
	}
	return out.Message, nil
}

// Deploy pins project to version.
func (c *apiClient) Deploy(ctx context.Context, project, version string) (string, error) {
	return c.action(ctx, project, "deploy", map[string]string{"version": version})
}

// Rollback pins project to its previous good version.
func (c *apiClient) Rollback(ctx context.Context, project string) (string, error) {
	return c.action(ctx, project, "rollback", nil)
}

// Pause stops automatic deploys of project.
func (c *apiClient) Pause(ctx context.Context, project string) (string, error) {
	return c.action(ctx, project, "pause", nil)
}

// Resume unpauses and unpins project.
func (c *apiClient) Resume(ctx context.Context, project string) (string, error) {
	return c.action(ctx, project, "resume", nil)
}

// RetryBuild retries a failed build.
func (c *apiClient) RetryBuild(ctx context.Context, project, build, version string) (string, error) {
	return c.action(ctx, project, "retry", map[string]string{"build": build, "version": version})
}

// apiProjectState is the part of the API's project shape the CLI prints.
type apiProjectState struct {
	Name     string
	SCM      string
	Location string
	Paused   bool
	Pinned   string
	Status   string
	Builds   []struct {
		Name    string
		Desired *struct {
			Version   string
			Instances int
			SetBy     string `json:"set_by"`
		}
		Last *struct {
			Versions map[string]int
		}
		Status string
		Why    string
	}
}

// Status prints the state of the named project, or of all, as the local
// status command does, plus each build's status and why.
func (c *apiClient) Status(ctx context.Context, w io.Writer, names []string) error {
	var ps []apiProjectState
	if len(names) == 1 {
		var p apiProjectState
		if err := c.call(ctx, http.MethodGet, projectPath(names[0], ""), nil, &p); err != nil {
			return fmt.Errorf("status %s: %w", names[0], err)
		}
		ps = append(ps, p)
	} else {
		var out struct{ Projects []apiProjectState }
		if err := c.call(ctx, http.MethodGet, "/api/v1/projects", nil, &out); err != nil {
			return fmt.Errorf("status: %w", err)
		}
		ps = out.Projects
	}
	if len(ps) == 0 {
		_, err := fmt.Fprintln(w, "no projects yet: mainline project add OWNER/REPO (or --git PATH)")
		return err
	}
	for i, p := range ps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		flags := ""
		if p.Paused {
			flags += " [paused]"
		}
		if p.Pinned != "" {
			flags += " [pinned " + p.Pinned + "]"
		}
		fmt.Fprintf(w, "%s (%s %s)%s: %s\n", p.Name, p.SCM, p.Location, flags, p.Status)
		for _, b := range p.Builds {
			desired, last := "-", "-"
			if b.Desired != nil {
				desired = fmt.Sprintf("%s ×%d (%s)", b.Desired.Version, b.Desired.Instances, b.Desired.SetBy)
			}
			if b.Last != nil {
				last = formatVersions(b.Last.Versions)
			}
			fmt.Fprintf(w, "  %-8s desired %s   last %s   %s\n", b.Name+":", desired, last, b.Status)
			if b.Why != "" {
				fmt.Fprintf(w, "           why: %s\n", b.Why)
			}
		}
	}
	return nil
}
