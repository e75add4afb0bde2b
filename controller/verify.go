package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/deploy/verify"
	"github.com/mainline-cd/mainline/providers"
)

// Verification run triggers and statuses, as stored. A run a user asked
// for is stored with the trigger "request:WHO #ID" (ID is the request's
// event) and counted in metrics as TriggerUser.
const (
	TriggerRollout  = "rollout"
	TriggerSchedule = "schedule"
	TriggerUser     = "user"

	RunRunning = "running"
	RunPassed  = "passed"
	RunFailed  = "failed"
	RunError   = "error"
	RunSkipped = "skipped" // no suite configured: the rollout counts as good
)

// verify runs the project's verification suite once against production
// after each completed rollout. Ready means the running version passed
// (or there is no suite), or it failed and the rollback or alert has been
// made; the version is not verified twice.
func (r *run) verify(ctx context.Context) (Outcome, error) {
	c, p := r.c, r.project
	if len(r.cfg.Builds) == 0 {
		return ready(), nil
	}
	first := r.cfg.Builds[0]
	d, err := c.Store.Desired(ctx, p.ID, first.Name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (d.Version == "" || d.Instances == 0)) {
		return ready(), nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("load desired state: %w", err)
	}
	if req, ok := c.sched().takeRollback(p.ID); ok && req.version == d.Version {
		if err := r.rollback(ctx, d.Version, req.reason); err != nil {
			return Outcome{}, err
		}
		return progress(0, "%s failed scheduled verification", d.Version), nil
	}
	var suite *verify.Suite
	if r.cfg.Verify != "" {
		if suite, err = r.loadSuite(ctx, d.Version); err != nil {
			return Outcome{}, err
		}
	}
	schedule := ""
	if suite != nil {
		schedule = suite.Schedule
	}
	if err := c.sched().ensure(p.ID, schedule, first.Name, r.cfg.Verify, d.Version); err != nil {
		r.log.Warn("schedule verification", "err", err)
	}
	runs, err := c.Store.VerifyRuns(ctx, p.ID, 50)
	if err != nil {
		return Outcome{}, fmt.Errorf("list verification runs: %w", err)
	}
	errorsSoFar := 0
	for _, vr := range runs {
		if vr.Version != d.Version || vr.Trigger != TriggerRollout {
			continue
		}
		if vr.Status == RunError {
			errorsSoFar++
			continue
		}
		if vr.Status != RunRunning {
			// This rollout was verified, or acted upon; only a user's
			// request runs the suite again.
			return r.verifyOnRequest(ctx, suite, d.Version, first.Name, runs)
		}
	}
	now := c.Clock.Now().UTC()
	if suite == nil {
		_, err := c.Store.AddVerifyRun(ctx, store.VerifyRun{ProjectID: p.ID, Version: d.Version, Trigger: TriggerRollout,
			Status: RunSkipped, Summary: "no verification suite configured", StartedAt: now, FinishedAt: now})
		if err != nil {
			return Outcome{}, fmt.Errorf("record verification: %w", err)
		}
		r.notify(ctx, "deploy_finished", d.Version, fmt.Sprintf("%s %s is live (no verification suite)", p.Name, d.Version))
		return ready(), c.event(ctx, p, "rollout_completed", "%s is live; no verification suite configured", d.Version)
	}
	report, vr, err := r.runSuite(ctx, suite, d.Version, first.Name, TriggerRollout)
	if err != nil {
		return Outcome{}, err
	}
	switch report.Outcome {
	case verify.Passed:
		r.setCommitStatus(ctx, "mainline/verify", providers.StateSuccess, vr.Summary)
		r.notify(ctx, "deploy_finished", d.Version, fmt.Sprintf("%s %s is live and verified", p.Name, d.Version))
		return ready(), c.event(ctx, p, "verified", "%s verified: %s", d.Version, vr.Summary)
	case verify.Error:
		if errorsSoFar+1 < max(suite.ErrorBudget, 1) {
			return waiting(5*1e9, "verification of %s could not measure (%d/%d): %s", d.Version, errorsSoFar+1, suite.ErrorBudget, vr.Summary), nil
		}
	}
	if err := r.verificationFailed(ctx, suite, d.Version, vr.Summary); err != nil {
		return Outcome{}, err
	}
	// A rollback changed the desired state: roll to it now.
	return progress(0, "%s failed verification", d.Version), nil
}

// EventVerifyRequested is the kind of event that asks the controller to
// run a project's verification suite again. Any replica's dashboard may
// write it; the leader's verify stage answers it. Its message is made by
// VerifyRequestMessage.
const EventVerifyRequested = "verify_requested"

// VerifyRequestMessage is the message of a verify_requested event, e.g.
// "verification of 0.3.15 requested by user:alice". The verify stage reads
// who asked back from it.
func VerifyRequestMessage(version, who string) string {
	return fmt.Sprintf("verification of %s requested by %s", version, who)
}

// requester returns who asked in a message made by VerifyRequestMessage.
func requester(msg string) string {
	if i := strings.LastIndex(msg, " requested by "); i >= 0 {
		return msg[i+len(" requested by "):]
	}
	return "unknown"
}

// requestTrigger is the stored trigger of a run answering request id.
func requestTrigger(who string, id int64) string {
	return fmt.Sprintf("request:%s #%d", who, id)
}

// answers reports whether a run with trigger was made for request id.
func answers(trigger string, id int64) bool {
	return strings.HasPrefix(trigger, "request:") && strings.HasSuffix(trigger, fmt.Sprintf(" #%d", id))
}

// triggerKind is a run's trigger as a metrics label: TriggerUser for
// every request, so the label stays bounded.
func triggerKind(trigger string) string {
	if strings.HasPrefix(trigger, "request:") {
		return TriggerUser
	}
	return trigger
}

// verifyOnRequest runs the suite against version again when a user asked
// for it after the version's newest run. Only the newest request counts,
// and once a run was made for it (found by the request's event ID in the
// run's trigger, which does not depend on the replicas' clocks agreeing)
// it is not run again, except after an error, until the suite's error
// budget is spent. A failure acts as after a rollout: roll back, or alert
// and keep the version. Ready means there is no unanswered request, or it
// was answered and passed.
func (r *run) verifyOnRequest(ctx context.Context, suite *verify.Suite, version, build string, runs []store.VerifyRun) (Outcome, error) {
	c, p := r.c, r.project
	evs, err := c.Store.Events(ctx, store.EventQuery{ProjectID: p.ID, Kind: EventVerifyRequested, Limit: 1})
	if err != nil {
		return Outcome{}, fmt.Errorf("list verification requests: %w", err)
	}
	if len(evs) == 0 {
		return ready(), nil
	}
	req := evs[0]
	budget := 1
	if suite != nil {
		budget = max(suite.ErrorBudget, 1)
	}
	errorsSoFar := 0
	for _, vr := range runs {
		switch {
		case answers(vr.Trigger, req.ID) && vr.Status == RunError:
			errorsSoFar++
		case answers(vr.Trigger, req.ID) && vr.Status != RunRunning:
			return ready(), nil // answered
		case vr.Version == version && vr.StartedAt.After(req.At) && vr.Status != RunRunning && vr.Status != RunError:
			return ready(), nil // a later run already says how version is doing
		}
	}
	if errorsSoFar >= budget {
		return ready(), nil // the errors were acted upon
	}
	who := requester(req.Message)
	trigger := requestTrigger(who, req.ID)
	if suite == nil {
		now := c.Clock.Now().UTC()
		_, err := c.Store.AddVerifyRun(ctx, store.VerifyRun{ProjectID: p.ID, Version: version, Trigger: trigger,
			Status: RunSkipped, Summary: "no verification suite configured", StartedAt: now, FinishedAt: now})
		if err != nil {
			return Outcome{}, fmt.Errorf("record verification: %w", err)
		}
		return ready(), c.event(ctx, p, "verify_skipped", "%s not verified again (requested by %s): no verification suite configured", version, who)
	}
	report, vr, err := r.runSuite(ctx, suite, version, build, trigger)
	if err != nil {
		return Outcome{}, err
	}
	switch report.Outcome {
	case verify.Passed:
		r.setCommitStatus(ctx, "mainline/verify", providers.StateSuccess, vr.Summary)
		return ready(), c.event(ctx, p, "verify_passed", "%s verified again (requested by %s): %s", version, who, vr.Summary)
	case verify.Error:
		if errorsSoFar+1 < budget {
			return waiting(5*time.Second, "verification of %s requested by %s could not measure (%d/%d): %s", version, who, errorsSoFar+1, budget, vr.Summary), nil
		}
	}
	if err := r.verificationFailed(ctx, suite, version, fmt.Sprintf("%s (re-run requested by %s)", vr.Summary, who)); err != nil {
		return Outcome{}, err
	}
	return progress(0, "%s failed verification requested by %s", version, who), nil
}

// verificationFailed acts on a failed verification as the suite says:
// roll back, or alert and keep the version.
func (r *run) verificationFailed(ctx context.Context, suite *verify.Suite, version, summary string) error {
	r.setCommitStatus(ctx, "mainline/verify", providers.StateFailure, summary)
	r.notify(ctx, "verify_failed", version, fmt.Sprintf("%s %s failed verification: %s", r.project.Name, version, summary))
	if suite.OnFailure == verify.Alert {
		return r.c.event(ctx, r.project, "verify_failed", "%s failed verification (on_failure: alert, kept): %s", version, summary)
	}
	return r.rollback(ctx, version, "failed verification: "+summary)
}

// loadSuite reads and parses the suite file at the version's tag. A suite
// that does not parse stalls the project: no retry can fix it.
func (r *run) loadSuite(ctx context.Context, version string) (*verify.Suite, error) {
	data, err := r.scm.ReadFile(ctx, version, r.cfg.Verify)
	if errors.Is(err, providers.ErrNotFound) {
		return nil, stalled("verification suite %s not found at %s", r.cfg.Verify, version)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", r.cfg.Verify, version, err)
	}
	suite, err := verify.Parse(r.cfg.Verify, data)
	if err != nil {
		return nil, stalled("invalid verification suite at %s: %v", version, err)
	}
	return suite, nil
}

// runSuite runs suite against the build's production endpoint and stores
// the run with its report.
func (r *run) runSuite(ctx context.Context, suite *verify.Suite, version, build, trigger string) (*verify.Report, store.VerifyRun, error) {
	c, p := r.c, r.project
	endpoint, err := c.Providers.Cluster.Endpoint(ctx, p.Name, build)
	if err != nil {
		return nil, store.VerifyRun{}, fmt.Errorf("endpoint of %s: %w", build, err)
	}
	vr, err := c.Store.AddVerifyRun(ctx, store.VerifyRun{ProjectID: p.ID, Version: version, Trigger: trigger,
		Status: RunRunning, StartedAt: c.Clock.Now().UTC()})
	if err != nil {
		return nil, vr, fmt.Errorf("record verification: %w", err)
	}
	report := verify.Run(ctx, c.HTTPClient, suite, verify.RunOptions{
		Vars:   map[string]string{"SERVICE_URL": endpoint, "VERSION": version},
		Getenv: c.Getenv,
		RunID:  runID(),
		Logger: r.log.With("version", version, "stage", "verify"),
	})
	vr.Status = string(report.Outcome)
	c.Metrics.Verified(triggerKind(trigger), vr.Status)
	vr.Summary = summarize(report)
	vr.FinishedAt = c.Clock.Now().UTC()
	if vr.Report, err = json.Marshal(report); err != nil {
		return nil, vr, fmt.Errorf("encode verification report: %w", err)
	}
	if err := c.Store.UpdateVerifyRun(ctx, vr); err != nil {
		return nil, vr, fmt.Errorf("record verification: %w", err)
	}
	return report, vr, nil
}

// summarize says in one line how a run went: for a failure, the step and
// the assertion, e.g. "step 'create order' failed: $.status = "error",
// want "open"".
func summarize(rep *verify.Report) string {
	step, a, failed := rep.Failure()
	switch {
	case !failed:
		return fmt.Sprintf("%d steps passed", len(rep.Steps))
	case a.What != "":
		return fmt.Sprintf("step '%s' %s: %s = %s, want %s", step, a.Outcome, a.What, a.Got, a.Expected)
	case rep.Error != "":
		return fmt.Sprintf("step '%s' %s: %s", step, rep.Outcome, rep.Error)
	}
	for _, s := range rep.Steps {
		if s.Name == step && s.Error != "" {
			return fmt.Sprintf("step '%s' %s: %s", step, s.Outcome, s.Error)
		}
	}
	return fmt.Sprintf("step '%s' %s", step, rep.Outcome)
}

func runID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// notify tells the configured notifier; a failure to notify is logged and
// never holds up a deploy.
func (r *run) notify(ctx context.Context, kind, version, msg string) {
	n := r.c.Providers.Notifier
	if n == nil {
		return
	}
	note := providers.Notification{Project: r.project.Name, Kind: kind, Version: version,
		Message: msg, URL: r.c.DashboardURL, At: r.c.Clock.Now().UTC()}
	if tags, err := r.c.Store.Tags(ctx, r.project.ID); err == nil {
		for _, t := range tags {
			if t.Name == version {
				note.SHA = t.SHA
			}
		}
	}
	if len(r.cfg.Builds) > 0 && r.c.Providers.Cluster != nil {
		if u, err := r.c.Providers.Cluster.Endpoint(ctx, r.project.Name, r.cfg.Builds[0].Name); err == nil {
			note.EnvironmentURL = u
		}
	}
	err := n.Notify(ctx, note)
	if err != nil {
		r.log.Warn("notify", "kind", kind, "version", version, "err", err)
	}
}
