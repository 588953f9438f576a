package playbooks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShippedPlaybooksAreValid(t *testing.T) {
	lib, err := Shipped()
	require.NoError(t, err)
	require.NotEmpty(t, lib.List())
	p, ok := lib.Get("first-campaign")
	require.True(t, ok)
	require.Equal(t, KindCampaign, p.Kind)
	require.Len(t, p.Hash, 64)
	require.Equal(t, "draft", p.Steps[1].Approval.Content, "approval defaults to the latest content step")
	require.Equal(t, []string{"sandbox"}, p.Steps[2].Publish.Channels, "publish defaults to the content's channels")
}

// errorsOf parses src and returns the error lines.
func errorsOf(t *testing.T, src string) []string {
	t.Helper()
	_, err := Parse("bad.yaml", []byte(src))
	require.Error(t, err)
	return strings.Split(err.Error(), "\n")
}

func TestErrorsNameFileLineColumnAndField(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string
	}{
		{"unknown top-level field", `apiVersion: cmo/v1
kind: Campaign
name: x
stepz: []
steps:
  - id: a
    wait: {for: 1h}
`, "bad.yaml:4:1: stepz: unknown field"},
		{"unknown step field", `apiVersion: cmo/v1
kind: Campaign
name: x
steps:
  - id: a
    wait: {for: 1h, untill: never}
`, "bad.yaml:6:21: steps[0].wait.untill: unknown field"},
		{"bad duration", `apiVersion: cmo/v1
kind: Campaign
name: x
steps:
  - id: a
    wait:
      for: soon
`, "bad.yaml:7:12: steps[0].wait.for: \"soon\" is not a duration"},
		{"wrong api version", `apiVersion: cmo/v2
kind: Campaign
name: x
steps: [{id: a, wait: {for: 1h}}]
`, "bad.yaml:1:13: apiVersion: must be \"cmo/v1\""},
		{"duplicate step id", `apiVersion: cmo/v1
kind: Campaign
name: x
steps:
  - id: a
    wait: {for: 1h}
  - id: a
    wait: {for: 2h}
`, "bad.yaml:7:5: steps[1].id: step id \"a\" is already used by steps[0]"},
		{"template uses unknown param", `apiVersion: cmo/v1
kind: Campaign
name: x
steps:
  - id: draft
    content: {template: "{{.prodcut}} is here", channels: [sandbox]}
`, "steps[0].content.template: template uses {{.prodcut}} but the playbook has no parameter \"prodcut\""},
		{"publish at unknown param", `apiVersion: cmo/v1
kind: Campaign
name: x
params:
  when: {type: string}
steps:
  - id: draft
    content: {template: "hi", channels: [sandbox]}
  - id: go
    publish: {at: params.when}
`, "steps[1].publish.at: parameter \"when\" has type string; a time is needed"},
		{"publish before content", `apiVersion: cmo/v1
kind: Campaign
name: x
steps:
  - id: go
    publish: {channels: [sandbox]}
`, "bad.yaml:6:14: steps[0].publish.content: no content step comes before this step"},
		{"two actions in a step", `apiVersion: cmo/v1
kind: Campaign
name: x
steps:
  - id: a
    wait: {for: 1h}
    report: {}
`, "bad.yaml:5:5: steps[0]: step \"a\" must have exactly one of"},
		{"bad param type", `apiVersion: cmo/v1
kind: Campaign
name: x
params:
  n: {type: integer}
steps: [{id: a, wait: {for: 1h}}]
`, "bad.yaml:5:6: params.n.type: must be one of string, int"},
		{"bad default", `apiVersion: cmo/v1
kind: Campaign
name: x
params:
  n: {type: int, default: many}
steps: [{id: a, wait: {for: 1h}}]
`, "params.n.default: want an integer"},
		{"yaml syntax", "apiVersion: cmo/v1\nkind: [Campaign\n", "bad.yaml:"},
		{"approval inside parallel", `apiVersion: cmo/v1
kind: Campaign
name: x
steps:
  - id: d
    content: {template: "hi", channels: [sandbox]}
  - id: both
    parallel:
      - id: ok
        approval: {within: 1h}
      - id: w
        wait: {for: 1h}
`, "bad.yaml:9:9: steps[1].parallel[0].approval: an approval cannot run inside a parallel branch"},
		{"fixed time inside repeat", `apiVersion: cmo/v1
kind: Campaign
name: x
params:
  at: {type: time}
steps:
  - id: d
    content: {template: "hi", channels: [sandbox]}
  - id: loop
    repeat:
      max: 3
      until: iteration >= 3
      steps:
        - id: p
          publish: {at: params.at}
`, "bad.yaml:14:11: steps[1].repeat.steps[0].publish.at: a fixed time inside a repeat fires only once"},
		{"wrong shape", `apiVersion: cmo/v1
kind: Campaign
name: x
steps: {id: a}
`, "bad.yaml:4:8: steps: want a list, got a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(errorsOf(t, tc.src), "\n")
			require.Contains(t, got, tc.want)
		})
	}
}

func TestAllErrorsReportedInFileOrder(t *testing.T) {
	lines := errorsOf(t, `apiVersion: cmo/v1
kind: Campaign
name: Bad Name
steps:
  - id: a
    wait: {for: -1h}
  - id: b
    wait: {for: 1h, x: 1}
`)
	require.Len(t, lines, 3, strings.Join(lines, "\n"))
	require.Contains(t, lines[0], ":3:7: name:")
	require.Contains(t, lines[1], ":6:")
	require.Contains(t, lines[2], ":8:21: steps[1].wait.x: unknown field")
}

func TestBindParams(t *testing.T) {
	p, err := Parse("p.yaml", []byte(`apiVersion: cmo/v1
kind: Campaign
name: p
params:
  product: {type: string}
  budget: {type: number, default: 10}
  count: {type: int, required: false}
  launch_at: {type: time}
  tone: {type: enum, values: [warm, formal], default: warm}
  tags: {type: list, required: false}
  delay: {type: duration, default: 2d}
steps: [{id: a, wait: {for: 1h}}]
`))
	require.NoError(t, err)
	raw := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	got, err := p.BindParams(raw(`{"product":"Cold Brew","launch_at":"2026-05-01T09:00:00+02:00","count":3,"tags":["a","b"]}`))
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"product": "Cold Brew", "launch_at": "2026-05-01T09:00:00+02:00", "count": int64(3),
		"tags": []string{"a", "b"}, "budget": float64(10), "tone": "warm", "delay": "48h0m0s",
	}, got)

	_, err = p.BindParams(raw(`{"launch_at":"tomorrow","count":"3","tone":"angry","extra":1}`))
	var fes FieldErrors
	require.ErrorAs(t, err, &fes)
	fields := map[string]string{}
	for _, fe := range fes {
		fields[fe.Field] = fe.Msg
	}
	require.Contains(t, fields["params.product"], "required string parameter is missing")
	require.Contains(t, fields["params.launch_at"], "RFC 3339")
	require.Contains(t, fields["params.count"], "want an integer, got a string")
	require.Contains(t, fields["params.tone"], "want one of warm, formal")
	require.Contains(t, fields["params.extra"], "has no parameter")
}

func TestRenderAndHash(t *testing.T) {
	cs := &ContentStep{Template: "{{.product}} is here", Variants: map[string]string{"care": "Questions about {{.product}}? Ask us."}, Hashtags: []string{"launch"}}
	targets := []Target{{ID: "c1", Name: "news", Platform: "sandbox"}, {ID: "c2", Name: "care", Platform: "sandbox"}}
	rs, err := Render(cs, map[string]any{"product": "Cold Brew"}, targets)
	require.NoError(t, err)
	require.Equal(t, "Cold Brew is here\n\n#launch", rs[0].Text)
	require.Equal(t, "Questions about Cold Brew? Ask us.\n\n#launch", rs[1].Text)

	h1 := ContentHash(rs)
	rs2, _ := Render(cs, map[string]any{"product": "Cold Brew!"}, targets)
	require.NotEqual(t, h1, ContentHash(rs2), "editing content changes the hash approvals are bound to")
	rs3, _ := Render(cs, map[string]any{"product": "Cold Brew"}, []Target{targets[1], targets[0]})
	require.Equal(t, h1, ContentHash(rs3), "hash does not depend on target order")

	_, err = Render(cs, map[string]any{}, targets)
	require.Error(t, err, "a missing parameter is an error, not <no value>")
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]string{"90s": "1m30s", "2d": "48h0m0s", "1d6h": "30h0m0s", "30m": "30m0s"} {
		d, err := ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, d.String())
	}
	for _, in := range []string{"", "soon", "-1h", "d"} {
		if in == "" {
			continue
		}
		_, err := ParseDuration(in)
		require.Error(t, err, in)
	}
}

func TestMediaAreRenderedAndHashed(t *testing.T) {
	cs := &ContentStep{Template: "{{.product}} is here", Media: []MediaRef{{URL: "https://cdn.example/{{.product}}.jpg", Alt: "a cup"}}}
	targets := []Target{{ID: "c1", Name: "news", Platform: "mastodon"}}
	rs, err := Render(cs, map[string]any{"product": "brew"}, targets)
	require.NoError(t, err)
	require.Equal(t, []MediaRef{{URL: "https://cdn.example/brew.jpg", Alt: "a cup"}}, rs[0].Media)
	noMedia, err := Render(&ContentStep{Template: cs.Template}, map[string]any{"product": "brew"}, targets)
	require.NoError(t, err)
	require.NotEqual(t, ContentHash(noMedia), ContentHash(rs), "attachments are part of what is approved")

	_, err = Parse("m.yaml", []byte(`apiVersion: cmo/v1
kind: Campaign
name: m
steps:
  - id: d
    content:
      template: hi
      channels: [mastodon]
      media:
        - {url: "ftp://x/y.png", alt: nope}
`))
	require.ErrorContains(t, err, "m.yaml:10:11: steps[0].content.media[0].url: media are given by an https:// or http:// URL")
}

func TestCampaignTagsAndFreezeMarkets(t *testing.T) {
	lib, err := Shipped()
	require.NoError(t, err)
	p, ok := lib.Get("paid-boost")
	require.True(t, ok)
	require.Equal(t, []string{"promo", "paid"}, p.Tags)

	crisis, err := Parse("c.yaml", []byte(`apiVersion: cmo/v1
kind: Crisis
name: spain-outage
detect: window.negative_ratio > 0.5
severity:
  - {level: high, when: "true"}
escalation:
  - {notify: [slack:oncall], ack_within: 15m}
freeze:
  when: severity == "high"
  scope: markets
  markets: [es, pt]
  reapprove: true
resolve: {when: window.negative_ratio < 0.2, hold: 1h}
`))
	require.NoError(t, err)
	require.Equal(t, FreezeMarkets, crisis.Freeze.Scope)
	require.Equal(t, []string{"es", "pt"}, crisis.Freeze.Markets)
	require.Equal(t, UnfreezeReschedule, crisis.Freeze.OnUnfreeze, "reschedule is the default")
	raw, err := json.Marshal(crisis.Freeze)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"markets":["es","pt"]`)
}
