// Package notify delivers playbook notifications to people: Slack incoming
// webhooks, e-mail over SMTP, PagerDuty Events API v2 and signed Standard
// Webhooks endpoints. Each kind is a Sender behind one interface; its
// errors say whether another attempt can help, so the Notify activity
// retries what may still go through and records what never will.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Kind names a way of delivering a notification.
type Kind string

// The kinds a route may have.
const (
	Slack     Kind = "slack"
	Email     Kind = "email"
	PagerDuty Kind = "pagerduty"
	Webhook   Kind = "webhook"
)

// Kinds lists every deliverable kind.
var Kinds = []Kind{Slack, Email, PagerDuty, Webhook}

// Target prefixes that are not a delivery kind: "role:x" reaches whoever a
// brand routes the role to (any kind), "log:x" is only written to the log.
const (
	PrefixRole = "role"
	PrefixLog  = "log"
)

// KindOf reads the kind a target implies from its prefix ("slack:oncall"
// is a Slack target). It reports false for role:, log: and anything else,
// whose route must name its kind.
func KindOf(target string) (Kind, bool) {
	prefix, _, _ := strings.Cut(target, ":")
	k := Kind(prefix)
	return k, slices.Contains(Kinds, k)
}

// Severities, lowest first, as crisis playbooks rate them.
var Severities = []string{"low", "medium", "high", "critical"}

// Actions on an incident. Only PagerDuty tells them apart; other kinds
// deliver every message as it is.
const (
	ActionTrigger     = "trigger"
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

// Actions lists the valid actions.
var Actions = []string{ActionTrigger, ActionAcknowledge, ActionResolve}

// Message is one notification for one target.
type Message struct {
	// ID is the outbox row's key, the same on every attempt: senders derive
	// the e-mail Message-ID and the webhook-id from it, so receivers can
	// recognise a re-send.
	ID       string
	Brand    string
	Campaign string
	Step     string
	Target   string
	Subject  string
	Text     string
	// Severity is low, medium, high or critical; empty when unrated.
	Severity string
	// Incident groups messages about one thing (a crisis id): PagerDuty's
	// dedup key, so every page of a crisis lands on one incident.
	Incident string
	// Action is trigger (default), acknowledge or resolve.
	Action string
	// Link points people at the thing to look at.
	Link string
}

func (m Message) action() string {
	if m.Action == "" {
		return ActionTrigger
	}
	return m.Action
}

// Route is where a brand's target is delivered, secrets opened. It exists
// only inside the activity that sends; String leaves the secrets out so a
// route that ends up in a log line leaks nothing.
type Route struct {
	Brand  string
	Target string
	Kind   Kind
	// URL is the Slack incoming-webhook URL or the webhook endpoint. A
	// Slack URL is itself the credential.
	URL string
	// RoutingKey is the PagerDuty integration key.
	RoutingKey string
	// Secret is the webhook signing secret, whsec_<base64>.
	Secret string
	// Addresses are the e-mail recipients.
	Addresses []string
}

func (r Route) String() string { return fmt.Sprintf("%s route %s/%s", r.Kind, r.Brand, r.Target) }

// secrets are the values no error text may contain.
func (r Route) secrets() []string { return []string{r.URL, r.RoutingKey, r.Secret} }

// Sender delivers messages of one kind.
type Sender interface {
	Send(ctx context.Context, r Route, m Message) error
}

// Senders maps kinds to their senders. A kind without one (e-mail when no
// SMTP server is configured) cannot be delivered.
type Senders map[Kind]Sender

// Options configures the senders New builds.
type Options struct {
	// HTTP is the client for Slack, PagerDuty and webhooks; nil gets one
	// with a 20 s timeout, well inside the Notify activity's minute.
	HTTP *http.Client
	// PagerDutyURL is the Events API v2 endpoint; empty means
	// DefaultPagerDutyURL.
	PagerDutyURL string
	// SMTP is the mail server; nil leaves e-mail out.
	SMTP *SMTPConfig
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a sender for every kind that is configured.
func New(o Options) Senders {
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	s := Senders{
		Slack:     &SlackSender{HTTP: hc, Now: o.Now},
		PagerDuty: &PagerDutySender{HTTP: hc, URL: o.PagerDutyURL, Now: o.Now},
		Webhook:   &WebhookSender{HTTP: hc, Now: o.Now},
	}
	if o.SMTP != nil {
		s[Email] = &EmailSender{Config: *o.SMTP, Now: o.Now}
	}
	return s
}

// Error is a failed delivery, classified.
type Error struct {
	Kind Kind
	// Permanent means the same message will be refused again: a retry
	// cannot help, a person has to fix the route or the message.
	Permanent bool
	// RetryAfter is how long the receiver asked us to wait (HTTP
	// Retry-After); zero leaves the pace to the caller's back-off.
	RetryAfter time.Duration
	// Status is the HTTP status or SMTP reply code; 0 when there was no
	// answer.
	Status int
	Msg    string
}

func (e *Error) Error() string {
	s := string(e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" %d", e.Status)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter.Round(time.Second))
	}
	return s
}

// IsPermanent reports whether err is a delivery failure no retry can fix.
// Anything that is not an *Error (a cancelled context, a database hiccup)
// is worth another attempt.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfterOf returns the wait a failed delivery asked for, or zero.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// redact removes secrets from text that may end up in a log, the outbox or
// a Temporal error (which the Temporal UI shows). For a URL, its path, its
// last segment and its query go too: a Slack webhook's token is the end of
// its path, and servers echo paths more often than whole URLs.
func redact(text string, secrets ...string) string {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		parts := []string{s}
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			if len(u.Path) > 1 {
				parts = append(parts, u.Path)
			}
			if i := strings.LastIndexByte(u.Path, '/'); i >= 0 && len(u.Path)-i > 4 {
				parts = append(parts, u.Path[i+1:])
			}
			if u.RawQuery != "" {
				parts = append(parts, u.RawQuery)
			}
		}
		for _, p := range parts {
			text = strings.ReplaceAll(text, p, "[redacted]")
		}
	}
	return text
}

// hashID turns a message id into a short token safe in headers and ids.
func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// truncate shortens s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
