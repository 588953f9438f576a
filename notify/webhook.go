package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/cmo-dev/cmo/platforms/webhook"
)

// EventNotification is the type of the events WebhookSender delivers.
const EventNotification = "notification.created"

// WebhookSender delivers notifications to a brand's endpoint as Standard
// Webhooks events (standardwebhooks.com), signed like the webhook channel's
// posts, so one receiver can verify both with the same library.
type WebhookSender struct {
	HTTP *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// WebhookEvent is the JSON body of a delivery.
type WebhookEvent struct {
	Type      string           `json:"type"`
	Timestamp time.Time        `json:"timestamp"`
	Data      WebhookEventData `json:"data"`
}

// WebhookEventData is the notification. ID repeats webhook-id so a
// receiver that keeps only bodies can still drop a re-send.
type WebhookEventData struct {
	ID       string `json:"id"`
	Brand    string `json:"brand"`
	Target   string `json:"target"`
	Campaign string `json:"campaign,omitempty"`
	Step     string `json:"step,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Text     string `json:"text"`
	Severity string `json:"severity,omitempty"`
	Incident string `json:"incident,omitempty"`
	Action   string `json:"action"`
	Link     string `json:"link,omitempty"`
}

// WebhookID is the webhook-id of a message's delivery: derived from the
// outbox key, the same on every attempt.
func WebhookID(m Message) string { return "ntf_" + hashID(m.ID) }

// Send POSTs the signed event. 2xx is success; 410 Gone (the endpoint
// wants no more deliveries) and other 4xx fail for good, except 408 and
// 429, which are retried like 5xx.
func (s *WebhookSender) Send(ctx context.Context, r Route, m Message) error {
	if r.URL == "" || r.Secret == "" {
		return &Error{Kind: Webhook, Permanent: true, Msg: "the route needs a URL and a signing secret"}
	}
	t := now(s.Now)
	id := WebhookID(m)
	body, err := json.Marshal(WebhookEvent{Type: EventNotification, Timestamp: t.UTC(), Data: WebhookEventData{
		ID: id, Brand: m.Brand, Target: m.Target, Campaign: m.Campaign, Step: m.Step, Subject: m.Subject,
		Text: m.Text, Severity: m.Severity, Incident: m.Incident, Action: m.action(), Link: m.Link,
	}})
	if err != nil {
		return err
	}
	sig, err := webhook.Sign(r.Secret, id, t, body)
	if err != nil {
		return &Error{Kind: Webhook, Permanent: true, Msg: "the route's signing secret must be whsec_ followed by a base64 key"}
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(t.Unix(), 10))
	h.Set(webhook.HeaderSignature, sig)
	resp, err := postJSON(ctx, s.HTTP, Webhook, r.URL, body, h)
	if err != nil {
		return err
	}
	if resp.status/100 == 2 {
		return nil
	}
	msg := redact(snippet(resp.body), r.secrets()...)
	if resp.status == http.StatusGone {
		msg = "Gone: the endpoint no longer accepts deliveries; remove or update the route"
	}
	return classify(Webhook, resp, msg, t)
}
