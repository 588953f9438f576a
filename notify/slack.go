package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// SlackSender posts to a Slack incoming webhook
// (https://api.slack.com/messaging/webhooks). The route's URL is the
// webhook and its only credential.
type SlackSender struct {
	HTTP *http.Client
	// Now is the clock for Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// slackSectionMax is the length limit of a section block's text.
const slackSectionMax = 3000

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackPayload struct {
	// Text is the fallback shown in notifications and by clients that do
	// not render blocks.
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// Send posts the message. Slack answers 200 "ok"; 400 invalid_payload or
// invalid_blocks, 403 action_prohibited, 404 no_service or
// channel_not_found and 410 channel_is_archived fail the same way each
// time; 429 (after Retry-After) and 5xx are retried.
func (s *SlackSender) Send(ctx context.Context, r Route, m Message) error {
	if r.URL == "" {
		return &Error{Kind: Slack, Permanent: true, Msg: "the route has no webhook URL"}
	}
	body, err := json.Marshal(slackMessage(m))
	if err != nil {
		return err
	}
	resp, err := postJSON(ctx, s.HTTP, Slack, r.URL, body, nil)
	if err != nil {
		return err
	}
	if resp.status/100 == 2 {
		return nil
	}
	return classify(Slack, resp, redact(snippet(resp.body), r.secrets()...), now(s.Now))
}

func slackMessage(m Message) slackPayload {
	head := m.Subject
	if m.Severity != "" {
		head = strings.TrimSpace("[" + strings.ToUpper(m.Severity) + "] " + head)
	}
	var b strings.Builder
	if head != "" {
		b.WriteString("*" + slackEscape(head) + "*\n")
	}
	b.WriteString(slackEscape(m.Text))
	if link := m.Link; link != "" && !strings.ContainsAny(link, "|<> \n") {
		b.WriteString("\n<" + strings.ReplaceAll(link, "&", "&amp;") + "|Open in cmo>")
	}
	blocks := []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(b.String(), slackSectionMax)}}}
	var ctxParts []string
	if m.Severity != "" {
		ctxParts = append(ctxParts, "Severity: *"+slackEscape(m.Severity)+"*")
	}
	if m.Brand != "" {
		ctxParts = append(ctxParts, "Brand: "+slackEscape(m.Brand))
	}
	if m.Incident != "" {
		ctxParts = append(ctxParts, "Incident: "+slackEscape(m.Incident))
	}
	if len(ctxParts) > 0 {
		blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: strings.Join(ctxParts, " · ")}}})
	}
	fallback := m.Text
	if head != "" {
		fallback = head + ": " + m.Text
	}
	return slackPayload{Text: fallback, Blocks: blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn reserves for
// links and mentions, so text from a playbook cannot ping @channel.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func now(f func() time.Time) time.Time {
	if f != nil {
		return f()
	}
	return time.Now()
}
