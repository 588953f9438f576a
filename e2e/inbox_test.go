package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/workflows"
)

// sandboxPost publishes a status on the sandbox as one of its users (a
// customer, not the brand) and returns its id and URL.
func sandboxPost(t *testing.T, base, token, text string) (id, link string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"status": text})
	require.NoError(t, err)
	req, err := http.NewRequest("POST", base+"/sandbox/api/v1/statuses", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var st struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st.ID, st.URL
}

// TestInboxEndToEnd: a complaint posted on the sandbox by a customer with
// a wide audience arrives as a mention, opens an urgent inbox item whose
// workflow starts, is assigned and answered through the API; the answer
// is published on the sandbox threaded to the complaint, and the
// first-response time shows on the item, in the customer-care KPIs and in
// the listening overview.
func TestInboxEndToEnd(t *testing.T) {
	s := startStack(t)
	a := api{t, s.APIURL}
	ctx := context.Background()

	code, body := a.do("PUT", "/v1/brands/demo/inbox/setup", map[string]any{"enabled": true})
	require.Equal(t, 200, code, body)
	require.Equal(t, "1h0m0s", body["policy"].(map[string]any)["urgent"].(map[string]any)["reply_within"])
	require.Len(t, body["rules"], len(inbox.DefaultRules))

	require.NoError(t, s.Store.UpsertSandboxAccount(ctx, "ana", "ana-token-0123456789", 25_000))
	text := "@demo_care still waiting for my refund after three weeks, awful service"
	postID, postURL := sandboxPost(t, s.APIURL, "ana-token-0123456789", text)

	mention := listening.Mention{Brand: "demo", Source: "sandbox", ExternalID: postID, Text: text, URL: postURL,
		CreatedAt: time.Now().UTC(), Author: listening.Author{Handle: "@ana", Followers: 25_000}}
	// Praise opens nothing; the complaint opens one item.
	praise := listening.Mention{Brand: "demo", Source: "sandbox", ExternalID: "praise-1", Text: "Lovely flat white today",
		CreatedAt: time.Now().UTC(), Author: listening.Author{Handle: "@joan", Followers: 90_000}}
	code, body = a.do("POST", "/v1/mentions", []listening.Mention{mention, praise})
	require.Equal(t, 200, code, body)
	require.EqualValues(t, 1, body["inbox"], "one item opened: %v", body)
	itemID := inbox.ItemID("demo", "sandbox", postID)

	// The item's workflow starts within moments of the commit.
	var item map[string]any
	require.Eventually(t, func() bool {
		code, body := a.do("GET", "/v1/inbox/"+itemID, nil)
		item = body
		return code == 200 && body["workflow_status"] == "running"
	}, 20*time.Second, 50*time.Millisecond, "the item's workflow starts")
	require.Equal(t, inbox.KindComplaint, item["kind"])
	require.Equal(t, inbox.PriorityUrgent, item["priority"])
	require.Equal(t, "complaint-high-reach", item["rule"])
	require.Equal(t, "sandbox-care", item["reply_channel"].(map[string]any)["name"])
	opened, due := parseTime(t, item["opened_at"]), parseTime(t, item["due_at"])
	require.Equal(t, time.Hour, due.Sub(opened), "a complaint from a high-reach author: one hour")
	require.Equal(t, workflows.EventInboxOpened, item["events"].([]any)[0].(map[string]any)["kind"])

	code, body = a.do("GET", "/v1/brands/demo/inbox?status=open", nil)
	require.Equal(t, 200, code, body)
	require.Len(t, body["items"], 1)
	require.Equal(t, itemID, body["items"].([]any)[0].(map[string]any)["id"])

	// Bad requests name the field.
	code, body = a.do("POST", "/v1/inbox/"+itemID+"/reply", map[string]any{"actor": "jordi"})
	require.Equal(t, 422, code, body)
	require.Equal(t, "text", body["field"])
	code, body = a.do("POST", "/v1/inbox/"+itemID+"/reply", map[string]any{"actor": "jordi", "text": strings.Repeat("long ", 120)})
	require.Equal(t, 422, code, body)
	require.Equal(t, "text", body["field"], "longer than the sandbox's 500 characters")
	code, body = a.do("POST", "/v1/inbox/"+itemID+"/reply", map[string]any{"actor": "jordi", "text": "hi", "channel": "nope"})
	require.Equal(t, 422, code, body)
	require.Equal(t, "channel", body["field"])
	code, body = a.do("POST", "/v1/inbox/nope/assign", map[string]any{"actor": "marta", "assignee": "jordi"})
	require.Equal(t, 404, code, body)
	require.Equal(t, "id", body["field"])
	code, body = a.do("PUT", "/v1/brands/demo/inbox/setup", map[string]any{"enabled": true,
		"rules": []map[string]any{{"name": "x", "when": "mention.negatve", "kind": "complaint", "priority": "high"}}})
	require.Equal(t, 422, code, body)
	require.Equal(t, "rules[0].when", body["field"])
	code, body = a.do("PUT", "/v1/brands/demo/inbox/setup", map[string]any{"enabled": true, "deadlines": map[string]string{"urgent": "soon"}})
	require.Equal(t, 422, code, body)
	require.Equal(t, "deadlines.urgent", body["field"])

	code, body = a.do("POST", "/v1/inbox/"+itemID+"/assign", map[string]any{"actor": "marta", "assignee": "jordi"})
	require.Equal(t, 200, code, body)
	require.Equal(t, inbox.StatusAssigned, body["status"])
	require.Equal(t, "jordi", body["assignee"])

	reply := "Sorry Ana! Your refund left today: DM us the order number if it has not arrived by Friday."
	code, body = a.do("POST", "/v1/inbox/"+itemID+"/reply", map[string]any{"actor": "jordi", "text": reply})
	require.Equal(t, 200, code, body)
	require.Equal(t, inbox.StatusReplied, body["status"])
	frt, ok := body["first_response_seconds"].(float64)
	require.True(t, ok, "first-response time recorded: %v", body)
	require.Greater(t, frt, 0.0)
	require.Less(t, frt, 60.0)
	posts := body["reply_posts"].([]any)
	require.Len(t, posts, 1)
	replyID := posts[0].(map[string]any)["post_id"].(string)

	// On the sandbox: one reply from the brand's care account, threaded.
	code, body = a.do("GET", "/v1/sandbox/posts?handle=demo_care", nil)
	require.Equal(t, 200, code, body)
	var found []map[string]any
	for _, p := range body["posts"].([]any) {
		if p := p.(map[string]any); p["content"] == reply {
			found = append(found, p)
		}
	}
	require.Len(t, found, 1, "published once")
	require.Equal(t, replyID, found[0]["id"])
	require.Equal(t, postID, found[0]["in_reply_to_id"], "threaded to the complaint")

	// The first-response time, per brand and channel.
	code, body = a.do("GET", "/v1/brands/demo/inbox/kpis", nil)
	require.Equal(t, 200, code, body)
	total := body["total"].(map[string]any)
	require.EqualValues(t, 1, total["items"])
	require.EqualValues(t, 1, total["responded"])
	require.InDelta(t, frt, total["first_response_avg_seconds"], 0.01)
	require.EqualValues(t, 1, total["on_time_ratio"])
	channels := body["channels"].([]any)
	require.Len(t, channels, 1)
	require.Equal(t, "sandbox", channels[0].(map[string]any)["channel"])
	code, body = a.do("GET", "/v1/brands/demo/listening", nil)
	require.Equal(t, 200, code, body)
	require.EqualValues(t, 1, body["care_7d"].(map[string]any)["total"].(map[string]any)["responded"])

	// The same mention sent again opens nothing new.
	code, body = a.do("POST", "/v1/mentions", []listening.Mention{mention})
	require.Equal(t, 200, code, body)
	require.Nil(t, body["inbox"])
	require.EqualValues(t, 1, body["duplicates"])

	code, body = a.do("POST", "/v1/inbox/"+itemID+"/close", map[string]any{"actor": "jordi", "reason": "refund confirmed by DM"})
	require.Equal(t, 200, code, body)
	require.Equal(t, inbox.StatusClosed, body["status"])
	require.NotNil(t, body["resolution_seconds"])
	code, body = a.do("POST", "/v1/inbox/"+itemID+"/reply", map[string]any{"actor": "jordi", "text": "one more thing"})
	require.Equal(t, 409, code, body)
	require.Equal(t, "id", body["field"])

	// The author is the brand's top opinion leader of the day.
	code, body = a.do("GET", "/v1/brands/demo/influencers?window=1d", nil)
	require.Equal(t, 200, code, body)
	ranked := body["influencers"].([]any)
	require.Len(t, ranked, 2)
	require.Equal(t, "@joan", ranked[0].(map[string]any)["handle"], "90,000 followers outrank 25,000")
	code, body = a.do("GET", "/v1/brands/demo/influencers/"+url.PathEscape("@ana"), nil)
	require.Equal(t, 200, code, body)
	require.Len(t, body["mentions"], 1)

	// Outreach to a shortlisted opinion leader runs the influencer-outreach
	// playbook, which tells the team why them and waits for approval.
	code, body = a.do("POST", "/v1/brands/demo/channels", map[string]any{"name": "demo-mastodon", "platform": "mastodon", "handle": "demo",
		"config": map[string]string{"base_url": "https://mastodon.example"}, "credentials": map[string]string{"token": "mastodon-token-0123456789"}})
	require.Equal(t, 201, code, body)
	code, body = a.do("POST", "/v1/brands/demo/influencers/"+url.PathEscape("@joan")+"/outreach", map[string]any{
		"id": "joan-outreach", "actor": "marta", "creator": "Joan", "liked": "your flat white reviews", "product": "the Brewline grinder"})
	require.Equal(t, 201, code, body)
	require.Equal(t, "influencer-outreach", body["playbook"])
	require.Eventually(t, func() bool {
		return campaignState(t, a, "joan-outreach")["status"] == workflows.StatusAwaitingApproval
	}, 20*time.Second, 50*time.Millisecond, "the contact message waits for partnerships")
	code, body = a.do("GET", "/v1/brands/demo/notifications", nil)
	require.Equal(t, 200, code, body)
	why := false
	for _, n := range body["notifications"].([]any) {
		why = why || strings.Contains(n.(map[string]any)["message"].(string), "Why them: #1 opinion leader of demo")
	}
	require.True(t, why, "the shortlist notice says why them: %v", body)

	h := history(t, s.Client, workflows.InboxItemWorkflowID(itemID))
	requireNoSecrets(t, s.Store, h)
	recordHistory(t, "replied-closed", h)
	recordHistory(t, "brand-inbox", history(t, s.Client, workflows.InboxWorkflowID("demo")))
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "a time: %v", v)
	at, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return at
}
