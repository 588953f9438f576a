package server_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/store"
)

func countItems(t *testing.T, s *store.Store, brand string) int {
	t.Helper()
	var n int
	require.NoError(t, s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM inbox_items WHERE brand_id = $1`, brand).Scan(&n))
	return n
}

func TestIngestionOpensItemsOnlyForBrandsWithAnInbox(t *testing.T) {
	s := testStore(t)
	seedBrand(t, s, "acme")
	seedBrand(t, s, "quiet")
	ts := newAPI(t, s)

	a := send(t, "GET", ts.URL+"/v1/brands/acme/inbox/setup", "", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Equal(t, false, a.body["setup"].(map[string]any)["enabled"], "off until the brand turns it on")

	a = send(t, "PUT", ts.URL+"/v1/brands/acme/inbox/setup", "application/json", []byte(`{"enabled": true,
		"rules": [{"name": "complaint", "when": "mention.negative", "kind": "complaint", "priority": "high"}],
		"deadlines": {"high": "2h"}, "remind_before": "30m"}`), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	high := a.body["policy"].(map[string]any)["high"].(map[string]any)
	require.Equal(t, "2h0m0s", high["reply_within"])
	require.Equal(t, "30m0s", high["remind_before"])

	a = send(t, "POST", ts.URL+"/v1/mentions", "application/x-ndjson", append(ndjson("acme", "1", "2"), ndjson("quiet", "1")...), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.EqualValues(t, 2, a.body["inbox"], "both complaints of acme, none of the brand without an inbox")
	require.Equal(t, 2, countItems(t, s, "acme"))
	require.Zero(t, countItems(t, s, "quiet"))

	fine := `{"brand":"acme","source":"x","external_id":"3","text":"fine","created_at":"2026-11-25T11:59:00Z"}`
	a = send(t, "POST", ts.URL+"/v1/mentions", "application/x-ndjson", []byte(fine), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Nil(t, a.body["inbox"], "a mention no rule holds for opens nothing")

	a = send(t, "GET", ts.URL+"/v1/brands/acme/inbox?status=open", "", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	items := a.body["items"].([]any)
	require.Len(t, items, 2)
	it := items[0].(map[string]any)
	require.Equal(t, inbox.KindComplaint, it["kind"])
	require.Equal(t, "complaint", it["rule"])
	require.Equal(t, "this is awful", it["mention"].(map[string]any)["text"])

	a = send(t, "GET", ts.URL+"/v1/inbox/"+it["id"].(string), "", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Equal(t, "starting", a.body["workflow_status"], "no workflow yet: nothing started it in this test")
	a = send(t, "POST", ts.URL+"/v1/inbox/"+it["id"].(string)+"/assign", "application/json", []byte(`{"actor":"marta","assignee":"jordi"}`), nil)
	require.Equal(t, http.StatusConflict, a.status, "an item whose workflow has not started yet asks to try again: %v", a.body)
	require.Equal(t, "1", a.header.Get("Retry-After"))

	for _, tc := range []struct{ path, field string }{
		{"/v1/brands/acme/inbox?status=lost", "status"},
		{"/v1/brands/acme/inbox?priority=asap", "priority"},
		{"/v1/brands/acme/inbox?limit=0", "limit"},
		{"/v1/brands/acme/inbox/kpis?from=yesterday", "from"},
		{"/v1/brands/acme/influencers?window=1y", "window"},
		{"/v1/brands/acme/influencers?competitor=rival", "competitor"},
	} {
		a = send(t, "GET", ts.URL+tc.path, "", nil, nil)
		require.Equal(t, http.StatusUnprocessableEntity, a.status, "%s: %v", tc.path, a.body)
		require.Equal(t, tc.field, a.body["field"], tc.path)
	}
	for body, field := range map[string]string{
		`{"enabled": true, "rules": [{"name": "a", "when": "author.followers > 'x'", "kind": "complaint", "priority": "high"}]}`: "rules[0].when",
		`{"enabled": true, "close_after": "forever"}`:                 "close_after",
		`{"enabled": true, "reply_channels": {"x": "acme-on-x"}}`:     "reply_channels.x",
		`{"enabled": true, "escalate_to": ["the boss"]}`:              "escalate_to[0]",
		`{"enabled": "yes"}`:                                          "enabled",
		`{"enabled": true, "deadlines": {"urgent": "0s"}}`:            "deadlines.urgent",
		`{"enabled": true, "rules": [{"name": "a", "when": "true"}]}`: "rules[0].kind",
	} {
		a = send(t, "PUT", ts.URL+"/v1/brands/acme/inbox/setup", "application/json", []byte(body), nil)
		require.Equal(t, http.StatusUnprocessableEntity, a.status, "%s: %v", body, a.body)
		require.Equal(t, field, a.body["field"], body)
	}
	a = send(t, "GET", ts.URL+"/v1/brands/nope/inbox", "", nil, nil)
	require.Equal(t, http.StatusNotFound, a.status)
	require.Equal(t, "brand", a.body["field"])
}

func TestInfluencersRankReachEngagementAndRelevance(t *testing.T) {
	s := testStore(t)
	seedBrand(t, s, "acme")
	ts := newAPI(t, s)
	a := send(t, "PUT", ts.URL+"/v1/brands/acme/listening", "application/json",
		[]byte(`{"topics": {"coffee": ["coffee"]}, "competitors": {"rival": ["rivalco"]}}`), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	mention := func(id, handle string, followers int, text string) string {
		return `{"brand":"acme","source":"x","external_id":"` + id + `","text":"` + text + `","created_at":"2026-11-25T11:00:00Z",` +
			`"author":{"handle":"` + handle + `","followers":` + itoa(followers) + `}}` + "\n"
	}
	body := mention("1", "@big", 100_000, "nice shoes") + // wide reach, off topic, once
		mention("2", "@fan", 5_000, "great coffee") + mention("3", "@fan", 5_000, "coffee again") + mention("4", "@fan", 5_000, "coffee!") +
		mention("5", "@small", 50, "coffee") +
		mention("6", "@critic", 20_000, "rivalco coffee is better")
	a = send(t, "POST", ts.URL+"/v1/mentions", "application/x-ndjson", []byte(body), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)

	a = send(t, "GET", ts.URL+"/v1/brands/acme/influencers", "", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	var order []string
	for _, in := range a.body["influencers"].([]any) {
		order = append(order, in.(map[string]any)["handle"].(string))
	}
	require.Equal(t, []string{"@fan", "@big", "@small"}, order, "three on-topic mentions outweigh a wider but passing audience")
	fan := a.body["influencers"].([]any)[0].(map[string]any)
	require.EqualValues(t, 3, fan["mentions"])
	require.EqualValues(t, 1, fan["relevance"])
	rival := a.body["competitors"].(map[string]any)["rival"].([]any)
	require.Len(t, rival, 1)
	require.Equal(t, "@critic", rival[0].(map[string]any)["handle"])

	a = send(t, "GET", ts.URL+"/v1/brands/acme/influencers/@fan", "", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Len(t, a.body["mentions"], 3)
	require.Contains(t, a.body["standing"], "brand")
	a = send(t, "GET", ts.URL+"/v1/brands/acme/influencers/@nobody", "", nil, nil)
	require.Equal(t, http.StatusNotFound, a.status)

	a = send(t, "POST", ts.URL+"/v1/brands/acme/influencers/@nobody/outreach", "application/json",
		[]byte(`{"actor": "marta", "product": "the grinder", "liked": "your reviews"}`), nil)
	require.Equal(t, http.StatusUnprocessableEntity, a.status, a.body)
	require.Equal(t, "handle", a.body["field"], "only someone on the shortlist")
	a = send(t, "POST", ts.URL+"/v1/brands/acme/influencers/@fan/outreach", "application/json", []byte(`{"actor": "marta", "liked": "x"}`), nil)
	require.Equal(t, http.StatusUnprocessableEntity, a.status, a.body)
	require.Equal(t, "product", a.body["field"])
}

func itoa(n int) string { return strconv.Itoa(n) }
