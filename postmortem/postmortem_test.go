package postmortem

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/rules"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

func TestBuildMergesHistoryAndOutbox(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ack, resolved := at(12), at(95)
	sent := at(1)
	st := workflows.CrisisState{CrisisID: "acme-spike-1", Brand: "acme", Playbook: "negative-spike", Title: "Negative sentiment spike",
		Status: "resolved", Severity: "medium", AckedBy: "pau", AckedAt: &ack, ResolvedAt: &resolved, StatementBy: "laia",
		Severities: []workflows.SeverityChange{
			{Level: "high", At: t0, Window: rules.Window{Mentions: 120, NegativeRatio: 0.58, VolumeZ: 4.2}},
			{Level: "critical", At: at(30), Window: rules.Window{Mentions: 300, NegativeRatio: 0.75, VolumeZ: 7}},
			{Level: "medium", At: at(60), Actor: "pau", Reason: "bots | filtered"},
		},
		Pages:      []workflows.Page{{Tier: 1, Round: 1, At: t0}},
		Statements: []workflows.StatementVersion{{Version: 1, Text: "We hear you.", At: t0, By: "template", Decision: "approve", Actor: "laia"}},
		Posts:      []workflows.Post{{Channel: "news", PublishedAt: at(20), URL: "https://sandbox/1"}},
		Events: []workflows.Event{
			{At: t0, Kind: workflows.EventDetected, Detail: "rule held"},
			{At: ack, Kind: workflows.EventAck, Actor: "pau"},
			{At: resolved, Kind: workflows.EventResolved, Detail: "calm"},
		}}
	tl := Build(Input{Crisis: store.Crisis{ID: "acme-spike-1", OpenedAt: t0}, State: st,
		Deliveries: []store.Delivery{
			{Notification: store.Notification{StepID: "page-1-1", Target: "email:oncall", CreatedAt: t0}, Status: "sent", Attempts: 2, SentAt: &sent},
			{Notification: store.Notification{StepID: "page-1-1", Target: "slack:oncall", CreatedAt: t0}, Status: "unrouted"},
		},
		Series: []store.SeriesPoint{{At: t0, Mentions: 80}, {At: at(5), Mentions: 140}}, SeriesStep: 5 * time.Minute})

	var kinds []string
	for _, e := range tl.Entries {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"detected", "notification", "notification", "acknowledged", "resolved"}, kinds, "ordered by time, history and outbox merged")
	require.Equal(t, "page-1-1 delivered (2 attempts)", tl.Entries[2].Detail)
	s := tl.Summary
	require.Equal(t, "critical", s.PeakSeverity)
	require.Equal(t, 12*time.Minute, *s.TimeToAck)
	require.Equal(t, 20*time.Minute, *s.TimeToStatement)
	require.Equal(t, 95*time.Minute, *s.Duration)
	require.Equal(t, map[string]int{"sent": 1, "unrouted": 1}, s.Notifications)
	require.EqualValues(t, 140, s.PeakMentions)

	md := Markdown(tl)
	for _, want := range []string{
		"# Post-mortem: Negative sentiment spike — acme",
		"| acknowledged | by pau after 12m0s |",
		"| first statement published | after 20m0s |",
		"| notifications | 1 sent, 1 unrouted |",
		"| 10:30:00 | critical | 300 | 75% | 7.0 | — | — |",
		`| 11:00:00 | medium | 0 | 0% | 0.0 | pau | bots \| filtered |`,
		"1. **approve** by template at 10:00:00 (decided by laia)",
		"| email:oncall | page-1-1 | sent | 2 | 10:01:00 |",
		"## Review",
	} {
		require.Contains(t, md, want)
	}
	require.False(t, strings.Contains(md, "ongoing"))
}
