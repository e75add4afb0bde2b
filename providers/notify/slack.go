package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/mainline-cd/mainline/providers"
)

var _ providers.Notifier = (*Slack)(nil)

// maxSlackMessage bounds the message quoted in a Slack post: a
// verification summary can be long, and the dashboard has the rest.
const maxSlackMessage = 300

// Slack posts notifications to a Slack incoming webhook as one short line
// and a link to the dashboard.
type Slack struct {
	// WebhookURL is the incoming webhook's URL. Its path is a credential:
	// it never appears in errors.
	WebhookURL string
	// HTTPClient sends the posts; nil is a client with a 10 s timeout.
	HTTPClient *http.Client
	// DashboardURL is linked when a notification carries no URL of its
	// own.
	DashboardURL string
}

// slackMessage is the incoming webhook payload: text is the fallback for
// notifications, blocks what the channel shows. Both are mrkdwn.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Notify posts n to the webhook.
func (s *Slack) Notify(ctx context.Context, n providers.Notification) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the text is Slack mrkdwn, escaped for Slack
	if err := enc.Encode(s.message(n)); err != nil {
		return fmt.Errorf("slack: encode %s: %w", n.Kind, err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	header := http.Header{"Content-Type": {"application/json"}}
	if err := post(ctx, s.HTTPClient, s.WebhookURL, header, body); err != nil {
		return fmt.Errorf("slack: %s %s: %w", n.Kind, n.Project, err)
	}
	return nil
}

// message renders n: an emoji for the kind, the notification's message (or
// a headline made from its kind when it has none), and links to the
// dashboard and, once live, the service.
func (s *Slack) message(n providers.Notification) slackMessage {
	emoji, line := headline(n)
	if m := oneLine(n.Message); m != "" {
		line = m
	}
	if r := []rune(line); len(r) > maxSlackMessage {
		line = string(r[:maxSlackMessage-1]) + "…"
	}
	line = slackEscape(line)
	text := emoji + " " + line
	var links []string
	if u := firstNonEmpty(n.URL, s.DashboardURL); u != "" {
		links = append(links, slackLink(u, "Open the dashboard"))
	}
	if n.EnvironmentURL != "" && n.Kind == "deploy_finished" {
		links = append(links, slackLink(n.EnvironmentURL, "Open the service"))
	}
	if len(links) > 0 {
		text += "\n" + strings.Join(links, " · ")
	}
	return slackMessage{
		Text:   line,
		Blocks: []slackBlock{{Type: "section", Text: slackText{Type: "mrkdwn", Text: text}}},
	}
}

// headline says what happened in a few words, for notifications without a
// message of their own.
func headline(n providers.Notification) (emoji, line string) {
	what := strings.TrimSpace(n.Project + " " + n.Version)
	switch n.Kind {
	case "deploy_started":
		return ":rocket:", "Deploying " + what
	case "deploy_finished":
		return ":white_check_mark:", what + " is live"
	case "rolled_back":
		return ":rewind:", what + " was rolled back"
	case "verify_failed":
		return ":x:", what + " failed verification"
	case "dependency_pr_red":
		return ":red_circle:", n.Project + ": the dependency upgrade pull request is failing its checks"
	}
	return ":information_source:", what + ": " + strings.ReplaceAll(n.Kind, "_", " ")
}

// oneLine keeps the first line of s: Slack posts stay short.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func slackLink(url, label string) string {
	return "<" + strings.ReplaceAll(slackEscape(url), "|", "%7C") + "|" + slackEscape(label) + ">"
}
