package web_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mainline-cd/mainline/controller/store"
)

// browser starts headless Chromium for the test, or skips it when the
// machine has none (CI installs the chromium package).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// startServer serves e.srv from a real http.Server with the timeouts
// serve uses; the live stream must outlive WriteTimeout.
func startServer(t *testing.T, e *env) string {
	ts := httptest.NewUnstartedServer(e.srv)
	ts.Config.ReadHeaderTimeout = 10 * time.Second
	ts.Config.WriteTimeout = 60 * time.Second
	ts.Start()
	// End the live streams first: Close waits for every connection.
	t.Cleanup(func() { e.srv.Close(); ts.Close() })
	return ts.URL
}

// do runs steps with a deadline, failing the test on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("read %s: %v", css, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

func signInSteps(base string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/signin"),
		chromedp.SendKeys(chromedp.ID("token"), tokenSecret),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS("section#overview")),
	)
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserOverviewAndLiveUpdate(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := startServer(t, e)
	do(t, ctx, "sign in", signInSteps(base))

	tests := []struct{ project, build, class, want string }{
		{"octo-org/orders", "api", "desired", "0.3.15 ×2 set 1 h ago by tag 0.3.15"},
		{"octo-org/orders", "api", "last", "0.3.15 ×2 observed 1 h ago"},
		{"octo-org/orders", "api", "state", "in sync"},
		{"shop/cart", "api", "desired", "1.2.0 ×3 set 2 min ago by tag 1.2.0"},
		{"shop/cart", "api", "last", "1.2.0 ×1, 1.1.9 ×2 observed 10 s ago"},
		{"shop/cart", "api", "state", "rolling rolling to 1.2.0 (1/3 healthy)"},
		{"shop/web", "www", "state", "waiting waiting for api to reach 2.0.1 (depends_on)"},
	}
	for _, tt := range tests {
		css := `tr[data-project="` + tt.project + `"][data-build="` + tt.build + `"] td.` + tt.class
		if got := text(t, ctx, css); got != tt.want {
			t.Errorf("%s %s %s: got %q, want %q", tt.project, tt.build, tt.class, got, tt.want)
		}
	}
	screenshot(t, ctx, "overview.png")

	// A change the controller writes shows without a reload.
	do(t, ctx, "wait for the live stream",
		chromedp.WaitReady(chromedp.CSS(`html[data-live-ready="1"]`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	bg := context.Background()
	cart := e.ids["shop/cart"]
	d, err := e.st.Desired(bg, cart, "api")
	if err != nil {
		t.Fatal(err)
	}
	d.Version, d.SetBy, d.SetAt = "1.2.1", "tag 1.2.1", now
	if _, err := e.st.SetDesired(bg, d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.AddEvent(bg, store.Event{ProjectID: cart, Kind: "desired_changed", Message: "api: desired 1.2.1 ×3 (was 1.2.0 ×3), set by tag 1.2.1", At: now}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "see the new desired state within 2 s",
		chromedp.Poll[chromedp.Void](`document.querySelector('tr[data-project="shop/cart"] td.desired').textContent.includes("1.2.1")`,
			chromedp.WithPollingTimeout(2*time.Second)))
	still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil || !still {
		t.Errorf("the page was reloaded (%v); want the change swapped in", err)
	}
}

func TestBrowserDeployForm(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := startServer(t, e)
	project := base + "/projects/octo-org/orders"
	bg := context.Background()
	pinned := func() string {
		p, err := e.st.ProjectByName(bg, "octo-org/orders")
		if err != nil {
			t.Fatal(err)
		}
		return p.Pinned
	}
	open := chromedp.Steps(chromedp.Navigate(project), chromedp.WaitVisible(chromedp.ID("deploy-version")))
	// deploy chooses 0.3.14 and presses Deploy, answering OK to the
	// confirmation as a user would.
	deploy := chromedp.Steps(
		chromedp.SetValue(chromedp.ID("deploy-version"), "0.3.14"),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(chromedp.CSS(`form[action$="/-/deploy"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)),
	)

	do(t, ctx, "sign in and open the project", signInSteps(base), open)
	screenshot(t, ctx, "project.png")

	// A bad CSRF token is refused.
	do(t, ctx, "deploy with a bad CSRF token",
		chromedp.SetAttributeValue(chromedp.CSS(`form[action$="/-/deploy"] input[name=csrf]`), "value", strings.Repeat("0", 64)),
		deploy, chromedp.WaitVisible(chromedp.CSS(`p[role=alert]`)))
	if h := text(t, ctx, "main h1"); h != "Refused" || pinned() != "" {
		t.Errorf("bad CSRF: page %q, pinned %q; want Refused and nothing pinned", h, pinned())
	}

	// Without a session (the cookie gone, the form still on screen) it is
	// refused too.
	clearCookies := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
		return err
	})
	do(t, ctx, "deploy without a session", open, clearCookies, deploy, chromedp.WaitVisible(chromedp.CSS(`p[role=alert]`)))
	if h := text(t, ctx, "main h1"); h != "Sign in first" || pinned() != "" {
		t.Errorf("no session: page %q, pinned %q; want Sign in first and nothing pinned", h, pinned())
	}

	// Signed in, with the page's own token, it works.
	do(t, ctx, "deploy signed in", signInSteps(base), open, deploy, chromedp.WaitVisible(chromedp.CSS(`section#state .banner`)))
	if h := text(t, ctx, "main h1"); h != "octo-org/orders" || pinned() != "0.3.14" {
		t.Errorf("signed in: page %q, pinned %q; want the project page and 0.3.14 pinned", h, pinned())
	}
	if b := text(t, ctx, "section#state .banner"); !strings.Contains(b, "Pinned to 0.3.14") {
		t.Errorf("banner %q, want it to say the project is pinned to 0.3.14", b)
	}
	evs, _ := e.st.Events(bg, store.EventQuery{ProjectID: e.ids["octo-org/orders"], Limit: 1})
	if len(evs) == 0 || !strings.Contains(evs[0].Message, "token:alice deployed 0.3.14") {
		t.Errorf("newest event %+v, want the deploy naming token:alice", evs)
	}
}
