package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

// metricsWindow is how far back delivery metrics look.
const metricsWindow = 30 * 24 * time.Hour

// Event kinds the delivery metrics are computed from.
var metricKinds = []string{"head", "verified", "rollout_completed", "rolled_back"}

// deliveryMetrics are the DORA four over the metrics window, with a daily
// series for the chart.
type deliveryMetrics struct {
	Deploys     int
	PerWeek     float64
	LeadTimes   []time.Duration // merge (head seen) to running, one per deploy where known
	Rollbacks   int
	Restores    []time.Duration // rollback to the next good deploy
	DailyDeploy [30]int
	DailyFail   [30]int
	Since       time.Time
}

// LeadTime is the median lead time, or 0 when unknown.
func (m *deliveryMetrics) LeadTime() time.Duration { return median(m.LeadTimes) }

// RestoreTime is the median time to restore, or 0 when unknown.
func (m *deliveryMetrics) RestoreTime() time.Duration { return median(m.Restores) }

// FailureRate is rollbacks per deploy, in percent.
func (m *deliveryMetrics) FailureRate() string {
	if m.Deploys == 0 {
		if m.Rollbacks > 0 {
			return "—"
		}
		return "0 %"
	}
	return fmt.Sprintf("%.0f %%", 100*float64(m.Rollbacks)/float64(m.Deploys))
}

func (m *deliveryMetrics) add(o *deliveryMetrics) {
	m.Deploys += o.Deploys
	m.PerWeek += o.PerWeek
	m.LeadTimes = append(m.LeadTimes, o.LeadTimes...)
	m.Rollbacks += o.Rollbacks
	m.Restores = append(m.Restores, o.Restores...)
	for i := range m.DailyDeploy {
		m.DailyDeploy[i] += o.DailyDeploy[i]
		m.DailyFail[i] += o.DailyFail[i]
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// human formats a duration for the page: "42 s", "7 min", "3.5 h", "2.1 d".
func human(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%.1f d", d.Hours()/24)
}

// metricEvents returns the events of the metric kinds since a time, for
// one project or (projectID 0) all, oldest first.
func (s *Server) metricEvents(ctx context.Context, projectID int64, since time.Time) ([]store.Event, error) {
	var out []store.Event
	for _, kind := range metricKinds {
		var before int64
		for {
			page, err := s.Store.Events(ctx, store.EventQuery{ProjectID: projectID, Kind: kind, BeforeID: before, Limit: 1000})
			if err != nil {
				return nil, fmt.Errorf("%s events: %w", kind, err)
			}
			done := len(page) < 1000
			for _, e := range page {
				if e.At.Before(since) {
					done = true
					break
				}
				out = append(out, e)
			}
			if done {
				break
			}
			before = page[len(page)-1].ID
		}
	}
	slices.SortFunc(out, func(a, b store.Event) int { return int(a.ID - b.ID) })
	return out, nil
}

// computeMetrics computes one project's metrics from its events (oldest
// first) and tags.
func computeMetrics(now time.Time, events []store.Event, tags []store.Tag) *deliveryMetrics {
	since := now.Add(-metricsWindow)
	m := &deliveryMetrics{Since: since}
	sha := map[string]string{}
	for _, t := range tags {
		sha[t.Name] = t.SHA
	}
	headAt := map[string]time.Time{} // short SHA → first seen
	var failedAt time.Time
	seen := map[string]bool{}
	day := func(t time.Time) int { return 29 - int(now.Sub(t)/(24*time.Hour)) }
	for _, e := range events {
		switch e.Kind {
		case "head":
			if i := strings.LastIndex(e.Message, " is at "); i >= 0 {
				s := strings.TrimSpace(e.Message[i+len(" is at "):])
				if _, ok := headAt[s]; !ok {
					headAt[s] = e.At
				}
			}
		case "verified", "rollout_completed":
			version, _, _ := strings.Cut(e.Message, " ")
			if seen[version] {
				continue
			}
			seen[version] = true
			m.Deploys++
			if d := day(e.At); d >= 0 && d < 30 {
				m.DailyDeploy[d]++
			}
			if full := sha[version]; full != "" {
				if at, ok := headAt[full[:min(7, len(full))]]; ok && !e.At.Before(at) {
					m.LeadTimes = append(m.LeadTimes, e.At.Sub(at))
				}
			}
			if !failedAt.IsZero() {
				m.Restores = append(m.Restores, e.At.Sub(failedAt))
				failedAt = time.Time{}
			}
		case "rolled_back":
			m.Rollbacks++
			if d := day(e.At); d >= 0 && d < 30 {
				m.DailyFail[d]++
			}
			if failedAt.IsZero() {
				failedAt = e.At
			}
		}
	}
	m.PerWeek = float64(m.Deploys) / (metricsWindow.Hours() / 24 / 7)
	return m
}

func (s *Server) projectMetrics(ctx context.Context, p store.Project) (*deliveryMetrics, error) {
	now := s.Clock.Now()
	evs, err := s.metricEvents(ctx, p.ID, now.Add(-metricsWindow-7*24*time.Hour))
	if err != nil {
		return nil, err
	}
	tags, err := s.Store.Tags(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return computeMetrics(now, evs, tags), nil
}

// projectMetricsRow is one project's line on the delivery page.
type projectMetricsRow struct {
	Name string
	M    *deliveryMetrics
}

// allMetrics computes the metrics of every project with delivery events
// in the window, and their sum.
func (s *Server) allMetrics(ctx context.Context) (*deliveryMetrics, []projectMetricsRow, error) {
	now := s.Clock.Now()
	evs, err := s.metricEvents(ctx, 0, now.Add(-metricsWindow-7*24*time.Hour))
	if err != nil {
		return nil, nil, err
	}
	byProject := map[int64][]store.Event{}
	for _, e := range evs {
		byProject[e.ProjectID] = append(byProject[e.ProjectID], e)
	}
	ps, err := s.Store.Projects(ctx)
	if err != nil {
		return nil, nil, err
	}
	all := &deliveryMetrics{Since: now.Add(-metricsWindow)}
	var rows []projectMetricsRow
	for _, p := range ps {
		pe := byProject[p.ID]
		if len(pe) == 0 {
			continue
		}
		tags, err := s.Store.Tags(ctx, p.ID)
		if err != nil {
			return nil, nil, err
		}
		m := computeMetrics(now, pe, tags)
		all.add(m)
		rows = append(rows, projectMetricsRow{p.Name, m})
	}
	return all, rows, nil
}

// chartBar is one day of the chart.
type chartBar struct {
	X, DeployY, DeployH, FailY, FailH int
	Label                             string
}

// Chart lays out the daily series as bars in a 300×60 box, for the SVG
// the template draws: deploys grow up from the baseline, rollbacks are
// drawn over them from the baseline in a second colour.
func (m *deliveryMetrics) Chart() []chartBar {
	peak := 1
	for i := range m.DailyDeploy {
		peak = max(peak, m.DailyDeploy[i], m.DailyFail[i])
	}
	bars := make([]chartBar, 30)
	for i := range bars {
		dh := m.DailyDeploy[i] * 56 / peak
		fh := m.DailyFail[i] * 56 / peak
		day := m.Since.Add(time.Duration(i+1) * 24 * time.Hour).Format("Jan 2")
		bars[i] = chartBar{X: i * 10, DeployY: 58 - dh, DeployH: dh, FailY: 58 - fh, FailH: fh,
			Label: fmt.Sprintf("%s: %d deploys, %d rollbacks", day, m.DailyDeploy[i], m.DailyFail[i])}
	}
	return bars
}
