package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultTimeout bounds one delivery when no HTTPClient is given.
const defaultTimeout = 10 * time.Second

// maxErrorBody is how much of a failed response's body an error quotes.
const maxErrorBody = 200

// HTTPError is a receiver's answer other than 2xx.
type HTTPError struct {
	StatusCode int
	Body       string // the start of the response body, for the log
}

func (e *HTTPError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Body)
}

// Temporary reports whether trying again later may succeed: server errors,
// 408 and 429 may; other client errors (a deleted Slack webhook, a bad
// payload) will not.
func (e *HTTPError) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests
}

// post sends body to rawURL. Errors name the receiver by scheme and host
// only, since the path or query of a webhook URL is often its secret.
func post(ctx context.Context, client *http.Client, rawURL string, header http.Header, body []byte) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("invalid receiver URL (want http or https with a host)")
	}
	where := redact(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post to %s: invalid request", where)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if client == nil {
		client = &http.Client{Timeout: defaultTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post to %s: %w", where, err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post to %s: %w", where, &HTTPError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(head))})
	}
	return nil
}

// redact returns u without its user, path, query and fragment.
func redact(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/…"
	}
	return s
}
