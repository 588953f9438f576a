package inbox

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/listening"
)

func mention(text string, followers int64, label string) *listening.Mention {
	return &listening.Mention{Brand: "demo", Source: "sandbox", ExternalID: "42", Text: text, CreatedAt: t0,
		Author: listening.Author{Handle: "@ana", Followers: followers}, Sentiment: &listening.Sentiment{Label: label}}
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestDefaultRulesClassifyByReachKindAndAddress(t *testing.T) {
	cl, err := (&Config{Enabled: true}).Classifier([]string{"demo_care", "@Demo_News"})
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		m         *listening.Mention
		rule      string
		priority  string
		within    time.Duration
		needReply bool
	}{
		{"complaint from a high-reach author", mention("Still waiting for my refund, awful", 25_000, listening.Negative), "complaint-high-reach", PriorityUrgent, time.Hour, true},
		{"complaint", mention("Still waiting for my refund, awful", 300, listening.Negative), "complaint", PriorityHigh, 4 * time.Hour, true},
		{"question", mention("¿Abrís el domingo", 300, listening.Neutral), "question", PriorityNormal, 24 * time.Hour, true},
		{"addressed to the brand", mention("Thanks @demo_care!", 300, listening.Positive), "direct", PriorityLow, 72 * time.Hour, true},
		{"federated handle of the brand", mention("hola @demo_news@cmo.example", 300, listening.Positive), "direct", PriorityLow, 72 * time.Hour, true},
		{"a longer handle is someone else", mention("ask @demo_careers", 300, listening.Positive), "", "", 0, false},
		{"praise in passing", mention("Lovely coffee at demo", 50_000, listening.Positive), "", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark, ok := cl.Classify(tc.m, t0.Add(time.Minute))
			require.Equal(t, tc.needReply, ok)
			if !ok {
				return
			}
			require.Equal(t, tc.rule, mark.Rule)
			require.Equal(t, tc.priority, mark.Priority)
			require.Equal(t, tc.within, mark.ReplyWithin)
			require.Equal(t, ItemID("demo", "sandbox", "42"), mark.ID())
		})
	}
}

func TestClassifierSkipsCompetitorsOldMentionsAndDisabledInboxes(t *testing.T) {
	cl, err := (&Config{Enabled: true}).Classifier(nil)
	require.NoError(t, err)
	m := mention("awful", 10, listening.Negative)
	m.Competitor = "rival"
	_, ok := cl.Classify(m, t0)
	require.False(t, ok, "a complaint about a rival is not ours to answer")
	cl, err = (&Config{Enabled: true, IncludeCompetitors: true}).Classifier(nil)
	require.NoError(t, err)
	_, ok = cl.Classify(m, t0)
	require.True(t, ok)

	_, ok = cl.Classify(mention("awful", 10, listening.Negative), t0.Add(DefaultMaxAge+time.Minute))
	require.False(t, ok, "an imported old mention opens no item")

	off, err := (&Config{}).Classifier(nil)
	require.NoError(t, err)
	_, ok = off.Classify(mention("awful", 10, listening.Negative), t0)
	require.False(t, ok)
}

func TestBrandRulesDeadlinesAndPolicy(t *testing.T) {
	var cfg Config
	require.NoError(t, json.Unmarshal([]byte(`{"enabled": true,
		"rules": [{"name": "vip", "when": "author.verified || 'vip' in mention.topics", "kind": "mention", "priority": "urgent"}],
		"deadlines": {"urgent": "30m"}, "remind_before": "10m", "approval_role": "care-lead", "close_after": "2d"}`), &cfg))
	require.NoError(t, cfg.Validate())
	cl, err := cfg.Classifier(nil)
	require.NoError(t, err)
	m := mention("hi", 1, listening.Neutral)
	m.Topics = []string{"vip"}
	mark, ok := cl.Classify(m, t0)
	require.True(t, ok)
	require.Equal(t, 30*time.Minute, mark.ReplyWithin)
	p := cfg.PolicyFor(PriorityUrgent)
	require.Equal(t, Policy{ReplyWithin: 30 * time.Minute, RemindBefore: 10 * time.Minute, Notify: DefaultNotify, EscalateTo: DefaultEscalateTo,
		ApprovalRole: "care-lead", CloseAfter: 48 * time.Hour}, p)
	require.Equal(t, 4*time.Hour, cfg.PolicyFor(PriorityHigh).ReplyWithin, "priorities the brand leaves out keep their defaults")
	require.Equal(t, time.Hour, (&Config{}).PolicyFor(PriorityHigh).RemindBefore, "without remind_before: a quarter of the deadline")
	_, ok = cl.Classify(mention("awful", 10, listening.Negative), t0)
	require.False(t, ok, "the brand's rules replace the defaults")
}

func TestValidateNamesTheField(t *testing.T) {
	for field, cfg := range map[string]Config{
		"rules[0].when":     {Rules: []Rule{{Name: "a", When: "mention.negatve", Kind: KindComplaint, Priority: PriorityHigh}}},
		"rules[0].kind":     {Rules: []Rule{{Name: "a", When: "mention.negative", Kind: "rant", Priority: PriorityHigh}}},
		"rules[0].priority": {Rules: []Rule{{Name: "a", When: "mention.negative", Kind: KindComplaint, Priority: "asap"}}},
		"rules[1].name":     {Rules: []Rule{{Name: "a", When: "true", Kind: KindComplaint, Priority: PriorityHigh}, {Name: "a", When: "true", Kind: KindComplaint, Priority: PriorityHigh}}},
		"deadlines.soon":    {Deadlines: map[string]Duration{"soon": Duration(time.Hour)}},
		"notify[0]":         {Notify: []string{"community"}},
		"approval_role":     {ApprovalRole: "Care Lead"},
	} {
		err := cfg.Validate()
		var fe *FieldError
		require.ErrorAs(t, err, &fe, field)
		require.Equal(t, field, fe.Field, "%v", err)
	}
	err := (&Config{Rules: []Rule{{Name: "a", When: "mention.negatve", Kind: KindComplaint, Priority: PriorityHigh}}}).Validate()
	require.ErrorContains(t, err, "unknown field negatve")
}

func TestExcerptCutsOnARuneBoundary(t *testing.T) {
	require.Equal(t, "a b c", Excerpt(" a\n b  c ", 10))
	require.Equal(t, "àààà…", Excerpt("àààààààààà", 12))
}

// BenchmarkClassify is the cost the default rules add to ingesting one
// mention of a brand whose inbox is on.
func BenchmarkClassify(b *testing.B) {
	cl, err := (&Config{Enabled: true}).Classifier([]string{"demo_care", "demo_news"})
	if err != nil {
		b.Fatal(err)
	}
	ms := []*listening.Mention{mention("Lovely coffee at demo", 300, listening.Positive), mention("Still waiting, awful", 300, listening.Negative),
		mention("Do you open on Sunday?", 300, listening.Neutral), mention("thanks @demo_care", 300, listening.Positive)}
	b.ResetTimer()
	for i := range b.N {
		cl.Classify(ms[i%len(ms)], t0)
	}
}
