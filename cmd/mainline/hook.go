package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mainline-cd/mainline/providers/gitlocal"
)

// signBody returns the X-Hub-Signature-256 value GitHub sends for body:
// the HMAC-SHA256 of the body under the webhook secret.
func signBody(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// zeroRev is what git hooks and GitHub push events call the commit of a
// ref that did not exist (before a create) or no longer exists (after a
// delete).
const zeroRev = "0000000000000000000000000000000000000000"

// maxPushCommits is how many commits a push event lists, as on GitHub.
const maxPushCommits = 20

// pushEvent is the part of GitHub's push webhook payload that a local
// repository can fill in truthfully; the field names and nesting are
// GitHub's (see the fixtures under shared/fixtures/github-webhooks/push).
type pushEvent struct {
	Ref        string        `json:"ref"`
	Before     string        `json:"before"`
	After      string        `json:"after"`
	Created    bool          `json:"created"`
	Deleted    bool          `json:"deleted"`
	Forced     bool          `json:"forced"`
	BaseRef    *string       `json:"base_ref"`
	Commits    []pushCommit  `json:"commits"`
	HeadCommit *pushCommit   `json:"head_commit"`
	Repository pushRepo      `json:"repository"`
	Pusher     pushCommitter `json:"pusher"`
}

type pushRepo struct {
	Name          string `json:"name"`
	FullName      string `json:"full_name"`
	Private       bool   `json:"private"`
	DefaultBranch string `json:"default_branch"`
	MasterBranch  string `json:"master_branch"`
}

type pushCommit struct {
	ID        string        `json:"id"`
	TreeID    string        `json:"tree_id"`
	Distinct  bool          `json:"distinct"`
	Message   string        `json:"message"`
	Timestamp string        `json:"timestamp"`
	Author    pushCommitter `json:"author"`
	Committer pushCommitter `json:"committer"`
	Added     []string      `json:"added"`
	Removed   []string      `json:"removed"`
	Modified  []string      `json:"modified"`
}

type pushCommitter struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// newDemoHookCmd is `mainline demo hook`, run by the demo repository's
// post-receive hook: it reads the "old new ref" lines git gives the hook
// on stdin and delivers each as a signed GitHub push webhook, so a local
// push reaches Mainline by the same code path as a push to GitHub. Users
// never run it, so it is hidden.
func newDemoHookCmd() *cobra.Command {
	var url, secretFile, repo, gitDir string
	cmd := &cobra.Command{
		Use:    "hook --url URL --secret-file FILE --repo NAME",
		Short:  "Deliver the pushes a post-receive hook reads on stdin as GitHub push webhooks",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := os.ReadFile(secretFile)
			if err != nil {
				return fmt.Errorf("webhook secret: %w", err)
			}
			secret = bytes.TrimSpace(secret)
			if len(secret) == 0 {
				return fmt.Errorf("webhook secret: %s is empty", secretFile)
			}
			g := gitReader{dir: gitDir}
			events, err := readPushes(cmd.Context(), g, repo, cmd.InOrStdin())
			if err != nil {
				return err
			}
			client := &http.Client{Timeout: 10 * time.Second}
			var errs []error
			for _, ev := range events {
				status, err := deliverPush(cmd.Context(), client, url, secret, ev)
				if err != nil {
					// git shows this to the pusher as "remote: …"; the push
					// itself has happened, and the demo's periodic resync
					// will find it.
					fmt.Fprintf(cmd.ErrOrStderr(), "mainline: could not deliver the push of %s to %s: %v (is `mainline demo` running?)\n", ev.Ref, url, err)
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "mainline: push of %s %s delivered (%s)\n", strings.TrimPrefix(ev.Ref, "refs/heads/"), short(ev.After), status)
			}
			if len(errs) > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "webhook URL of the Mainline server")
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "file holding the webhook secret")
	cmd.Flags().StringVar(&repo, "repo", "", "repository full name to put in the payload (the project name)")
	cmd.Flags().StringVar(&gitDir, "git-dir", ".", "the repository that was pushed to (a hook runs in it)")
	for _, f := range []string{"url", "secret-file", "repo"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

// readPushes turns the lines a post-receive hook reads ("old new ref")
// into push events.
func readPushes(ctx context.Context, g gitReader, repo string, stdin io.Reader) ([]pushEvent, error) {
	defaultBranch := "main"
	if ref, err := g.run(ctx, "symbolic-ref", "-q", "HEAD"); err == nil {
		defaultBranch = strings.TrimPrefix(ref, "refs/heads/")
	}
	var events []pushEvent
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		ev, err := newPushEvent(ctx, g, repo, defaultBranch, f[0], f[1], f[2])
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read hook input: %w", err)
	}
	return events, nil
}

// newPushEvent describes the update of ref from before to after as GitHub
// would.
func newPushEvent(ctx context.Context, g gitReader, repo, defaultBranch, before, after, ref string) (pushEvent, error) {
	ev := pushEvent{
		Ref:     ref,
		Before:  before,
		After:   after,
		Created: before == zeroRev,
		Deleted: after == zeroRev,
		Commits: []pushCommit{},
		Repository: pushRepo{
			Name:          repo,
			FullName:      repo,
			Private:       true,
			DefaultBranch: defaultBranch,
			MasterBranch:  defaultBranch,
		},
	}
	if ev.Deleted {
		ev.Pusher = pushCommitter{Name: "demo"}
		return ev, nil
	}
	head, err := g.commit(ctx, after)
	if err != nil {
		return ev, err
	}
	ev.HeadCommit = &head
	ev.Pusher = head.Committer
	ids := []string{after}
	if !ev.Created {
		ev.Forced = g.ok(ctx, "merge-base", "--is-ancestor", before, after) != nil
		out, err := g.run(ctx, "rev-list", "--reverse", fmt.Sprintf("--max-count=%d", maxPushCommits), before+".."+after)
		if err != nil {
			return ev, err
		}
		ids = strings.Fields(out)
	}
	for _, id := range ids {
		if id == after {
			ev.Commits = append(ev.Commits, head)
			continue
		}
		c, err := g.commit(ctx, id)
		if err != nil {
			return ev, err
		}
		ev.Commits = append(ev.Commits, c)
	}
	return ev, nil
}

// deliverPush posts ev to url as GitHub would, signed with secret, and
// returns the answer's status. Connection failures are retried a few
// times, since a restarting server is only briefly away.
func deliverPush(ctx context.Context, client *http.Client, url string, secret []byte, ev pushEvent) (string, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("encode push event: %w", err)
	}
	id, err := deliveryID()
	if err != nil {
		return "", err
	}
	var lastErr error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		req, err := newWebhookRequest(ctx, url, "push", id, secret, body)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			lastErr = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
			continue
		}
		if resp.StatusCode >= 300 {
			return "", fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
		}
		return resp.Status, nil
	}
	return "", lastErr
}

// newWebhookRequest is a webhook delivery with GitHub's headers.
func newWebhookRequest(ctx context.Context, url, event, id string, secret, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/mainline-demo")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-GitHub-Hook-ID", "0")
	req.Header.Set("X-Hub-Signature-256", signBody(secret, body))
	return req, nil
}

// deliveryID returns a random UUID (version 4), the form of GitHub's
// X-GitHub-Delivery.
func deliveryID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("delivery id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// gitReader reads commits from the repository at dir with the git CLI.
type gitReader struct{ dir string }

func (g gitReader) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"--git-dir", g.dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}

func (g gitReader) ok(ctx context.Context, args ...string) error {
	_, err := g.run(ctx, args...)
	return err
}

// commit describes one commit as a push event lists it.
func (g gitReader) commit(ctx context.Context, rev string) (pushCommit, error) {
	const sep = "\x1f"
	out, err := g.run(ctx, "show", "-s", "--format=%H"+sep+"%T"+sep+"%cI"+sep+"%an"+sep+"%ae"+sep+"%cn"+sep+"%ce"+sep+"%B", rev)
	if err != nil {
		return pushCommit{}, err
	}
	f := strings.SplitN(out, sep, 8)
	if len(f) != 8 {
		return pushCommit{}, fmt.Errorf("git show %s: unexpected output", rev)
	}
	c := pushCommit{
		ID: f[0], TreeID: f[1], Distinct: true, Timestamp: f[2],
		Author:    pushCommitter{Name: f[3], Email: f[4]},
		Committer: pushCommitter{Name: f[5], Email: f[6]},
		Message:   strings.TrimSpace(f[7]),
		Added:     []string{}, Removed: []string{}, Modified: []string{},
	}
	// The files the commit changed against its first parent (or all of
	// them for a root commit).
	changes, err := g.run(ctx, "diff-tree", "--no-commit-id", "--name-status", "-r", "--root", rev)
	if err != nil {
		return pushCommit{}, err
	}
	for line := range strings.SplitSeq(changes, "\n") {
		status, path, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		switch status[:1] {
		case "A":
			c.Added = append(c.Added, path)
		case "D":
			c.Removed = append(c.Removed, path)
		default:
			c.Modified = append(c.Modified, path)
		}
	}
	return c, nil
}

// runPostReceive runs the post-receive hook of the local repository at
// location for one ref update, as git runs it after a push: in the
// repository (for a bare one), with the "old new ref" line on stdin. It
// is how a ref Mainline moved itself — a merged dependency pull request —
// reaches whatever listens to that hook (the demo's server, through
// `mainline demo hook`), since git update-ref runs no hooks. It reports
// whether there was an executable hook, and returns what the hook printed.
func runPostReceive(ctx context.Context, location string, u gitlocal.RefUpdate) (bool, string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", location, "rev-parse",
		"--absolute-git-dir", "--is-bare-repository", "--git-path", "hooks/post-receive").Output()
	if err != nil {
		return false, "", fmt.Errorf("post-receive hook of %s: %w", location, err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(f) != 3 {
		return false, "", fmt.Errorf("post-receive hook of %s: unexpected git rev-parse output %q", location, out)
	}
	gitDir, bare, hook := f[0], f[1] == "true", f[2]
	if !filepath.IsAbs(hook) {
		hook = filepath.Join(location, hook)
	}
	if fi, err := os.Stat(hook); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return false, "", nil
	}
	dir := gitDir
	if !bare {
		if dir, err = runGit(ctx, location, "rev-parse", "--show-toplevel"); err != nil {
			return false, "", fmt.Errorf("post-receive hook of %s: %w", location, err)
		}
	}
	old, nu := u.Old, u.New
	if old == "" {
		old = zeroRev
	}
	if nu == "" {
		nu = zeroRev
	}
	cmd := exec.CommandContext(ctx, hook)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_DIR="+gitDir)
	cmd.Stdin = strings.NewReader(old + " " + nu + " " + u.Ref + "\n")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return true, output.String(), fmt.Errorf("post-receive hook of %s: %w", location, err)
	}
	return true, output.String(), nil
}
