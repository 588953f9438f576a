package rules

import (
	"testing"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"
)

func TestCompileChecksTypesAndFields(t *testing.T) {
	_, err := Compile("kpi.engagement_rate >= 0.03 && params.product != ''", Campaign)
	require.NoError(t, err)

	for src, want := range map[string]string{
		"kpi.engagment_rate > 1":      "unknown field engagment_rate",
		"kpi.engagement_rate":         "expected bool",
		"kpi.posts + 'x'":             "invalid operation",
		"kpi.posts >":                 "unexpected token EOF",
		"now() > date('2026-01-01')":  "unknown name now",
		"len(keys(params)) > 0":       "unknown name keys",
		"window.negative_ratio > 0.4": "unknown name window",
	} {
		_, err := Compile(src, Campaign)
		require.Error(t, err, src)
		require.Contains(t, err.Error(), want, src)
		var re *Error
		require.ErrorAs(t, err, &re)
		require.GreaterOrEqual(t, re.Column, 1)
	}
	_, err = Compile(`window.negative_ratio > 0.4 && window.volume_z >= 3`, Crisis)
	require.NoError(t, err)
	_, err = Compile(`severity in ["high", "critical"]`, Freeze)
	require.NoError(t, err)
}

func TestErrorColumnPointsAtTheProblem(t *testing.T) {
	_, err := Compile("kpi.posts > 1 && kpi.nope", Campaign)
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, 1, re.Line)
	require.Equal(t, 22, re.Column, "column of 'nope'")
}

func TestEval(t *testing.T) {
	env := CampaignEnv{KPI: KPI{EngagementRate: 0.05, Posts: 2}, Params: map[string]any{"budget": 10.0}, Goals: map[string]bool{"reach": true}}
	ok, err := Eval("kpi.engagement_rate >= 0.03 && params.budget > 5 && goals.reach", Campaign, env)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = Eval("kpi.posts > 5", Campaign, env)
	require.NoError(t, err)
	require.False(t, ok)
}

const benchRule = "kpi.engagement_rate >= 0.03 && kpi.impressions > 1000 || goals.reach"

// BenchmarkEvalRules and BenchmarkEvalRawExpr run the same compiled
// program; their ratio is the rules package's overhead on evaluation.
// BenchmarkEvalRulesBySource adds the per-process program lookup that
// rules.Eval does by source text.
func BenchmarkEvalRules(b *testing.B) {
	env := CampaignEnv{KPI: KPI{EngagementRate: 0.05, Impressions: 5000}, Goals: map[string]bool{"reach": false}}
	p, err := Cached(benchRule, Campaign)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.EvalBool(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalRulesBySource(b *testing.B) {
	env := CampaignEnv{KPI: KPI{EngagementRate: 0.05, Impressions: 5000}, Goals: map[string]bool{"reach": false}}
	if _, err := Eval(benchRule, Campaign, env); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Eval(benchRule, Campaign, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalRawExpr(b *testing.B) {
	env := CampaignEnv{KPI: KPI{EngagementRate: 0.05, Impressions: 5000}, Goals: map[string]bool{"reach": false}}
	prog, err := expr.Compile(benchRule, expr.Env(CampaignEnv{}), expr.AsBool())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := expr.Run(prog, env); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReads(t *testing.T) {
	for src, want := range map[string]WindowReads{
		`window.mentions > 3`: {},
		`window.topic matches "outage" && window.mentions > 3`:  {Topic: true},
		`window.competitor == "acme" && window.negative > 1`:    {Competitor: true},
		`window.competitor != "" || window.topic in ["a", "b"]`: {Topic: true, Competitor: true},
	} {
		p, err := Compile(src, Crisis)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Reads(); got != want {
			t.Errorf("%s: reads %+v, want %+v", src, got, want)
		}
	}
}
