package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultPagerDutyURL is the Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDutySender sends Events API v2 events
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).
// The route's routing key is the service integration's key.
type PagerDutySender struct {
	HTTP *http.Client
	// URL is the enqueue endpoint; empty means DefaultPagerDutyURL.
	URL string
	// Now is the clock for Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// Limits of the Events API v2.
const (
	pdSummaryMax  = 1024
	pdDedupKeyMax = 255
)

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
}

type pdPayload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// pdResponse is the API's answer: 202 {"status":"success", "dedup_key"},
// 400 {"status":"invalid event","message","errors":[...]}.
type pdResponse struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// PagerDutySeverity maps a playbook severity to PagerDuty's scale. An
// unrated page is an error: it was sent to wake someone.
func PagerDutySeverity(severity string) string {
	switch severity {
	case "low":
		return "info"
	case "medium":
		return "warning"
	case "critical":
		return "critical"
	}
	return "error"
}

// Send enqueues a trigger, acknowledge or resolve event. The dedup key is
// the message's incident (a crisis id), so every page about one crisis
// lands on one PagerDuty incident and a repeated trigger is absorbed.
// 202 is success; 400 (an invalid event) is never retried, since the same
// event is refused again; 429 and 5xx are retried.
func (s *PagerDutySender) Send(ctx context.Context, r Route, m Message) error {
	if r.RoutingKey == "" {
		return &Error{Kind: PagerDuty, Permanent: true, Msg: "the route has no routing key"}
	}
	ev := pagerDutyEvent(r, m)
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	u := s.URL
	if u == "" {
		u = DefaultPagerDutyURL
	}
	resp, err := postJSON(ctx, s.HTTP, PagerDuty, u, body, nil)
	if err != nil {
		return err
	}
	if resp.status/100 == 2 {
		return nil
	}
	msg := snippet(resp.body)
	var pr pdResponse
	if json.Unmarshal(resp.body, &pr) == nil && (pr.Status != "" || pr.Message != "") {
		msg = strings.TrimSpace(pr.Status + ": " + pr.Message)
		if len(pr.Errors) > 0 {
			msg += " (" + strings.Join(pr.Errors, "; ") + ")"
		}
	}
	return classify(PagerDuty, resp, redact(msg, r.secrets()...), now(s.Now))
}

func pagerDutyEvent(r Route, m Message) pdEvent {
	dedup := m.Incident
	if dedup == "" {
		dedup = m.ID
	}
	if len(dedup) > pdDedupKeyMax {
		// Still stable across retries, and still one incident.
		dedup = dedup[:pdDedupKeyMax-33] + "-" + hashID(dedup)
	}
	ev := pdEvent{RoutingKey: r.RoutingKey, EventAction: m.action(), DedupKey: dedup, Client: "cmo"}
	if ev.EventAction != ActionTrigger {
		// Acknowledge and resolve carry only the key of what they close.
		return ev
	}
	summary := m.Subject
	if summary == "" {
		summary = m.Text
	}
	summary = strings.Join(strings.Fields(summary), " ")
	if summary == "" {
		summary = fmt.Sprintf("notification for %s", r.Target)
	}
	details := map[string]string{"target": m.Target}
	for k, v := range map[string]string{"text": m.Text, "campaign": m.Campaign, "step": m.Step, "severity": m.Severity, "incident": m.Incident} {
		if v != "" {
			details[k] = v
		}
	}
	ev.Payload = &pdPayload{
		Summary:       truncate(summary, pdSummaryMax),
		Source:        "cmo",
		Severity:      PagerDutySeverity(m.Severity),
		Component:     m.Campaign,
		Group:         m.Brand,
		Class:         m.Step,
		CustomDetails: details,
	}
	if m.Link != "" {
		ev.Links = []pdLink{{Href: m.Link, Text: "Open in cmo"}}
	}
	return ev
}
