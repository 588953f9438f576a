package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/workflows"
)

// starter is a Temporal client that records the workflows it is asked to
// start.
type starter struct {
	client.Client
	mu      sync.Mutex
	inputs  []workflows.CampaignInput
	details []string
}

type startedRun struct{ client.WorkflowRun }

func (startedRun) GetRunID() string { return "run-1" }

func (s *starter) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inputs = append(s.inputs, args[0].(workflows.CampaignInput))
	s.details = append(s.details, opts.StaticDetails)
	return startedRun{}, nil
}

func newLaunchAPI(t *testing.T) (*httptest.Server, *starter) {
	t.Helper()
	s := testStore(t)
	require.NoError(t, s.SeedDemo(context.Background()))
	lib, err := playbooks.LoadFS(fstest.MapFS{
		"first-campaign.yaml": {Data: []byte(`apiVersion: cmo/v1
kind: Campaign
name: first-campaign
params:
  product: {type: string}
steps:
  - id: draft
    content: {template: "{{.product}} is here!", channels: [sandbox]}
  - id: launch
    publish: {}
`)},
		"summer-promo.yaml": {Data: []byte(`apiVersion: cmo/v1
kind: Campaign
name: summer-promo
tags: [promo, seasonal]
steps:
  - id: draft
    content: {template: "Summer is here", channels: [sandbox]}
  - id: launch
    publish: {}
`)},
	}, ".")
	require.NoError(t, err)
	tc := &starter{}
	api := server.New(server.Deps{Store: s, Playbooks: lib, Temporal: tc, Now: func() time.Time { return clock }})
	return serveAPI(t, s, api.Handler()), tc
}

func launch(t *testing.T, ts *httptest.Server, body map[string]any) answer {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	return send(t, "POST", ts.URL+"/v1/campaigns", "application/json", raw, nil)
}

func TestLaunchCarriesTagsAndMarketToTheCampaign(t *testing.T) {
	ts, tc := newLaunchAPI(t)
	a := launch(t, ts, map[string]any{"id": "summer-es", "brand": "demo", "playbook": "summer-promo", "author": "marta",
		"tags": []string{"summer", "promo"}, "market": "es"})
	require.Equal(t, http.StatusCreated, a.status, a.body)
	require.Len(t, tc.inputs, 1)
	in := tc.inputs[0]
	require.Equal(t, []string{"promo", "seasonal", "summer"}, in.Tags, "the playbook's tags, then the launch's new ones")
	require.Equal(t, "es", in.Market)
	require.Contains(t, tc.details[0], "tags: promo, seasonal, summer")
	require.Contains(t, tc.details[0], "market: es")

	a = launch(t, ts, map[string]any{"id": "plain", "brand": "demo", "playbook": "first-campaign", "params": map[string]any{"product": "Tea"}})
	require.Equal(t, http.StatusCreated, a.status, a.body)
	require.Empty(t, tc.inputs[1].Tags)
	require.Empty(t, tc.inputs[1].Market)
}

func TestLaunchRefusesBadTagsAndMarket(t *testing.T) {
	ts, tc := newLaunchAPI(t)
	many := make([]string, 33)
	for i := range many {
		many[i] = "t"
	}
	for _, c := range []struct {
		name  string
		extra map[string]any
		field string
	}{
		{"tag with capitals", map[string]any{"tags": []string{"promo", "Summer Sale"}}, "tags[1]"},
		{"too many tags", map[string]any{"tags": many}, "tags"},
		{"tags not a list", map[string]any{"tags": "promo"}, "tags"},
		{"market not an id", map[string]any{"market": "España"}, "market"},
		{"two markets", map[string]any{"market": []string{"es", "fr"}}, "market"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"brand": "demo", "playbook": "first-campaign", "params": map[string]any{"product": "Tea"}}
			for k, v := range c.extra {
				body[k] = v
			}
			a := launch(t, ts, body)
			require.Equal(t, http.StatusUnprocessableEntity, a.status, a.body)
			require.Equal(t, c.field, a.body["field"], a.body)
		})
	}
	require.Empty(t, tc.inputs, "nothing was started")
}

// slowCampaign is a campaign whose query outlives Temporal's deadline.
type slowCampaign struct{ brandedCampaigns }

func (slowCampaign) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return nil, serviceerror.NewDeadlineExceeded("query timed out")
}

func TestStatusOfABusyCampaignAsksToRetry(t *testing.T) {
	s := testStore(t)
	ts := serveAPI(t, s, server.New(server.Deps{Store: s, Temporal: slowCampaign{}}).Handler())
	a := send(t, "GET", ts.URL+"/v1/campaigns/c1", "", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
	require.Equal(t, "1", a.header.Get("Retry-After"))
	require.Equal(t, "urn:cmo:problem:unavailable", a.body["type"])
}
