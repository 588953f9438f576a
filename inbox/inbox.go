// Package inbox decides which mentions need a reply and how soon: a
// brand's inbox set-up (expr rules in the rules.Inbox context, a reply
// deadline per priority, who is reminded and who is told when an item is
// overdue) and the classifier that applies it to mentions as they arrive.
//
// It does no I/O: the API classifies a batch while it ingests it, the
// store keeps the items, and the InboxItem workflow keeps each item's
// deadlines.
package inbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
)

// Kinds of item: what the mention asks of the brand.
const (
	KindComplaint = "complaint"
	KindQuestion  = "question"
	KindMention   = "mention"
)

// Kinds lists the kinds a rule may give.
var Kinds = []string{KindComplaint, KindQuestion, KindMention}

// Priorities, most pressing first.
const (
	PriorityUrgent = "urgent"
	PriorityHigh   = "high"
	PriorityNormal = "normal"
	PriorityLow    = "low"
)

// Priorities lists the priorities, most pressing first.
var Priorities = []string{PriorityUrgent, PriorityHigh, PriorityNormal, PriorityLow}

// DefaultDeadlines are the reply deadlines of a brand that sets none:
// what a customer who complains in public is used to from good brands.
var DefaultDeadlines = map[string]Duration{
	PriorityUrgent: Duration(time.Hour),
	PriorityHigh:   Duration(4 * time.Hour),
	PriorityNormal: Duration(24 * time.Hour),
	PriorityLow:    Duration(72 * time.Hour),
}

// DefaultRules are the rules of a brand that sets none, tried in order:
// a complaint from someone many people read is urgent (one hour), any
// other complaint high, a question normal, a message addressed to one of
// the brand's accounts low.
var DefaultRules = []Rule{
	{Name: "complaint-high-reach", When: "mention.negative && (author.followers >= 10000 || author.verified)", Kind: KindComplaint, Priority: PriorityUrgent},
	{Name: "complaint", When: "mention.negative", Kind: KindComplaint, Priority: PriorityHigh},
	{Name: "question", When: "mention.question", Kind: KindQuestion, Priority: PriorityNormal},
	{Name: "direct", When: "mention.direct", Kind: KindMention, Priority: PriorityLow},
}

// Defaults for the rest of the set-up.
var (
	DefaultNotify     = []string{"role:community"}
	DefaultEscalateTo = []string{"role:community-lead"}
)

const (
	// DefaultCloseAfter is how long an answered item stays open for the
	// customer's next message before it closes itself.
	DefaultCloseAfter = 72 * time.Hour
	// DefaultMaxAge is the oldest a mention may be when it arrives and
	// still open an item: an import of last year's mentions is history,
	// not a queue of overdue replies.
	DefaultMaxAge = 48 * time.Hour
)

// Config is a brand's inbox set-up. The zero value is a disabled inbox;
// an enabled one with no rules uses DefaultRules, and every other field
// left out takes its default.
type Config struct {
	Enabled bool `json:"enabled"`
	// Rules are tried in order; the first that holds opens an item with
	// its kind and priority.
	Rules []Rule `json:"rules,omitempty"`
	// Deadlines is the time to the first reply, per priority.
	Deadlines map[string]Duration `json:"deadlines,omitempty"`
	// RemindBefore is how long before the deadline the reminder goes out;
	// zero means a quarter of the item's deadline.
	RemindBefore Duration `json:"remind_before,omitempty"`
	// Notify are told of new items and reminded; EscalateTo are told when
	// an item is overdue. Targets as in playbooks: role:x, slack:x, ...
	Notify     []string `json:"notify,omitempty"`
	EscalateTo []string `json:"escalate_to,omitempty"`
	// ApprovalRole, when set, holds every reply until someone with that
	// role, other than its author, approves it.
	ApprovalRole string `json:"approval_role,omitempty"`
	// ReplyChannels names, per mention source, the brand channel that
	// answers; without one, the brand's first active channel (by name) on
	// the platform the source is named after.
	ReplyChannels map[string]string `json:"reply_channels,omitempty"`
	// CloseAfter closes an answered item nobody closed; zero means
	// DefaultCloseAfter.
	CloseAfter Duration `json:"close_after,omitempty"`
	// MaxAge: older mentions open no item; zero means DefaultMaxAge.
	MaxAge Duration `json:"max_age,omitempty"`
	// IncludeCompetitors lets mentions about competitors open items too
	// (off by default: a complaint about a rival is not ours to answer).
	IncludeCompetitors bool `json:"include_competitors,omitempty"`
}

// Rule classifies mentions: when When holds, the mention needs a reply
// of Kind within the deadline of Priority.
type Rule struct {
	Name     string `json:"name"`
	When     string `json:"when"`
	Kind     string `json:"kind"`
	Priority string `json:"priority"`
}

// FieldError names the offending field of a set-up.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks every field and compiles every rule, naming the first
// offending field.
func (c *Config) Validate() error {
	for i, r := range c.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if !playbooks.ValidID(r.Name) {
			return fieldErr(f+".name", "rule names are 1-63 lower-case letters, digits, '-' or '_', got %q", r.Name)
		}
		for _, o := range c.Rules[:i] {
			if o.Name == r.Name {
				return fieldErr(f+".name", "two rules are named %q", r.Name)
			}
		}
		if strings.TrimSpace(r.When) == "" {
			return fieldErr(f+".when", "is required: an expr rule such as mention.negative && author.followers >= 10000")
		}
		if _, err := rules.Cached(r.When, rules.Inbox); err != nil {
			return fieldErr(f+".when", "%v", err)
		}
		if !slices.Contains(Kinds, r.Kind) {
			return fieldErr(f+".kind", "must be one of %s, got %q", strings.Join(Kinds, ", "), r.Kind)
		}
		if !slices.Contains(Priorities, r.Priority) {
			return fieldErr(f+".priority", "must be one of %s, got %q", strings.Join(Priorities, ", "), r.Priority)
		}
	}
	for _, p := range sortedKeys(c.Deadlines) {
		if !slices.Contains(Priorities, p) {
			return fieldErr("deadlines."+p, "is not a priority (%s)", strings.Join(Priorities, ", "))
		}
		if c.Deadlines[p] <= 0 {
			return fieldErr("deadlines."+p, "must be longer than zero")
		}
	}
	if c.RemindBefore < 0 || c.CloseAfter < 0 || c.MaxAge < 0 {
		return fieldErr("remind_before", "durations must not be negative")
	}
	for field, ts := range map[string][]string{"notify": c.Notify, "escalate_to": c.EscalateTo} {
		for i, t := range ts {
			if prefix, name, ok := strings.Cut(t, ":"); !ok || prefix == "" || name == "" {
				return fieldErr(fmt.Sprintf("%s[%d]", field, i), "targets are kind:name, such as role:community or slack:care, got %q", t)
			}
		}
	}
	if c.ApprovalRole != "" && !playbooks.ValidID(c.ApprovalRole) {
		return fieldErr("approval_role", "roles are 1-63 lower-case letters, digits, '-' or '_', got %q", c.ApprovalRole)
	}
	for _, src := range sortedKeys(c.ReplyChannels) {
		if strings.TrimSpace(c.ReplyChannels[src]) == "" {
			return fieldErr("reply_channels."+src, "names a channel of the brand")
		}
	}
	return nil
}

// EffectiveRules are the rules in force: the brand's, or the defaults.
func (c *Config) EffectiveRules() []Rule {
	if len(c.Rules) == 0 {
		return DefaultRules
	}
	return c.Rules
}

// Deadline is the reply deadline of a priority.
func (c *Config) Deadline(priority string) time.Duration {
	if d, ok := c.Deadlines[priority]; ok && d > 0 {
		return d.D()
	}
	return DefaultDeadlines[priority].D()
}

// Policy is what an item's workflow needs from the set-up, fixed when the
// item starts so that a later change of set-up does not move its clocks.
type Policy struct {
	ReplyWithin  time.Duration `json:"reply_within"`
	RemindBefore time.Duration `json:"remind_before"`
	Notify       []string      `json:"notify"`
	EscalateTo   []string      `json:"escalate_to"`
	ApprovalRole string        `json:"approval_role,omitempty"`
	CloseAfter   time.Duration `json:"close_after"`
}

// PolicyFor is the policy of an item of a priority.
func (c *Config) PolicyFor(priority string) Policy {
	p := Policy{ReplyWithin: c.Deadline(priority), RemindBefore: c.RemindBefore.D(), Notify: c.Notify, EscalateTo: c.EscalateTo,
		ApprovalRole: c.ApprovalRole, CloseAfter: c.CloseAfter.D()}
	if p.RemindBefore <= 0 || p.RemindBefore >= p.ReplyWithin {
		p.RemindBefore = p.ReplyWithin / 4
	}
	if len(p.Notify) == 0 {
		p.Notify = DefaultNotify
	}
	if len(p.EscalateTo) == 0 {
		p.EscalateTo = DefaultEscalateTo
	}
	if p.CloseAfter <= 0 {
		p.CloseAfter = DefaultCloseAfter
	}
	return p
}

func (c *Config) maxAge() time.Duration {
	if c.MaxAge > 0 {
		return c.MaxAge.D()
	}
	return DefaultMaxAge
}

// Mark is a mention that needs a reply: the store opens its item in the
// transaction that stores the mention, so nothing accepted is lost.
type Mark struct {
	Brand       string        `json:"brand"`
	Source      string        `json:"source"`
	ExternalID  string        `json:"external_id"`
	Rule        string        `json:"rule"`
	Kind        string        `json:"kind"`
	Priority    string        `json:"priority"`
	ReplyWithin time.Duration `json:"reply_within"`
}

// ItemID is the id of the item a mention opens: derived from the mention,
// so the same mention sent twice, or swept twice, is one item.
func ItemID(brand, source, externalID string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + externalID))
	return brand + "-" + hex.EncodeToString(sum[:8])
}

// ID is the mark's item id.
func (m Mark) ID() string { return ItemID(m.Brand, m.Source, m.ExternalID) }

// Classifier applies one brand's compiled rules to its mentions.
type Classifier struct {
	cfg     *Config
	rules   []Rule
	progs   []*rules.Program
	handles []string
}

// Classifier compiles the set-up's rules. handles are the brand's own
// account handles, for mention.direct. A disabled set-up classifies
// nothing; a nil Classifier neither.
func (c *Config) Classifier(handles []string) (*Classifier, error) {
	if c == nil || !c.Enabled {
		return nil, nil
	}
	cl := &Classifier{cfg: c, rules: c.EffectiveRules()}
	for i, r := range cl.rules {
		p, err := rules.Cached(r.When, rules.Inbox)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("rules[%d].when", i), "%v", err)
		}
		cl.progs = append(cl.progs, p)
	}
	for _, h := range handles {
		if h = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(h), "@")); h != "" {
			cl.handles = append(cl.handles, "@"+h)
		}
	}
	return cl, nil
}

// Classify says whether a prepared mention needs a reply, and which rule
// decided. now is the arrival time. A rule that fails at run time is
// skipped, never fatal: ingestion must not stop on one odd mention.
func (cl *Classifier) Classify(m *listening.Mention, now time.Time) (Mark, bool) {
	if cl == nil || (m.Competitor != "" && !cl.cfg.IncludeCompetitors) || now.Sub(m.CreatedAt) > cl.cfg.maxAge() {
		return Mark{}, false
	}
	env := cl.Env(m)
	for i, p := range cl.progs {
		if ok, err := p.EvalBool(env); err == nil && ok {
			r := cl.rules[i]
			return Mark{Brand: m.Brand, Source: m.Source, ExternalID: m.ExternalID, Rule: r.Name, Kind: r.Kind, Priority: r.Priority,
				ReplyWithin: cl.cfg.Deadline(r.Priority)}, true
		}
	}
	return Mark{}, false
}

// Env is what the rules read about a mention.
func (cl *Classifier) Env(m *listening.Mention) rules.InboxEnv {
	env := rules.InboxEnv{
		Mention: rules.InboxMention{Text: m.Text, Lang: m.Lang, Source: m.Source, Label: listening.Neutral, Topics: m.Topics,
			Competitor: m.Competitor, Question: strings.ContainsAny(m.Text, "?¿")},
		Author: rules.InboxAuthor{Handle: m.Author.Handle, Followers: m.Author.Followers, Verified: m.Author.Verified},
	}
	if m.Sentiment != nil {
		env.Mention.Sentiment, env.Mention.Label = m.Sentiment.Score, m.Sentiment.Label
	}
	env.Mention.Negative = env.Mention.Label == listening.Negative
	if env.Mention.Topics == nil {
		env.Mention.Topics = []string{}
	}
	if len(cl.handles) > 0 && strings.Contains(m.Text, "@") {
		text := strings.ToLower(m.Text)
		for _, h := range cl.handles {
			if containsHandle(text, h) {
				env.Mention.Direct = true
				break
			}
		}
	}
	return env
}

// containsHandle reports whether text names handle (with its @) not as
// the start of a longer handle: "@demo_care" is not "@demo_careers".
func containsHandle(text, handle string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], handle)
		if j < 0 {
			return false
		}
		end := i + j + len(handle)
		if end == len(text) || !isHandleByte(text[end]) {
			return true
		}
		i = end
	}
}

// isHandleByte: a handle goes on with letters, digits and '_'; a full
// stop or an @ (of a federated handle) after it ends it.
func isHandleByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Duration is a time.Duration written as "90s", "30m", "4h" or "2d" in
// JSON, as in playbooks.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "4h" or "2d".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("durations are text such as \"30m\", \"4h\" or \"2d\"")
	}
	v, err := playbooks.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Item is what an item's workflow starts with: the mention to answer
// (ids and text, never credentials), its deadline, the channel that
// answers and the policy.
type Item struct {
	ID    string `json:"id"`
	Brand string `json:"brand"`
	// Source and ExternalID name the post that replies answer.
	Source     string    `json:"source"`
	ExternalID string    `json:"external_id"`
	Author     string    `json:"author,omitempty"`
	Followers  int64     `json:"followers,omitempty"`
	Excerpt    string    `json:"excerpt"`
	URL        string    `json:"url,omitempty"`
	Rule       string    `json:"rule"`
	Kind       string    `json:"kind"`
	Priority   string    `json:"priority"`
	OpenedAt   time.Time `json:"opened_at"`
	DueAt      time.Time `json:"due_at"`
	// ReplyChannelID is the brand channel that answers; empty when no
	// channel of the brand matches the source (a reply must name one).
	ReplyChannelID string `json:"reply_channel_id,omitempty"`
	ReplyChannel   string `json:"reply_channel,omitempty"`
	Policy         Policy `json:"policy"`
}

// Excerpt shortens a mention's text for notifications and the workflow's
// input, on a rune boundary.
func Excerpt(text string, max int) string {
	text = strings.Join(strings.Fields(text), " ")
	if len(text) <= max {
		return text
	}
	cut := 0
	for i := range text {
		if i > max-len("…") {
			break
		}
		cut = i
	}
	return text[:cut] + "…"
}

// Item states, as the API shows them.
const (
	StatusOpen             = "open"
	StatusAssigned         = "assigned"
	StatusOverdue          = "overdue"
	StatusAwaitingApproval = "awaiting_approval"
	StatusReplied          = "replied"
	StatusClosed           = "closed"
)

// Statuses lists the states an item can be in.
var Statuses = []string{StatusOpen, StatusAssigned, StatusOverdue, StatusAwaitingApproval, StatusReplied, StatusClosed}

// Update is an item's state as its workflow last recorded it, for the
// store's projection. Seq grows with every record, so a late retry of an
// older record cannot overwrite a newer one.
type Update struct {
	ID              string     `json:"id"`
	Seq             int64      `json:"seq"`
	Status          string     `json:"status"`
	Assignee        string     `json:"assignee,omitempty"`
	RemindedAt      *time.Time `json:"reminded_at,omitempty"`
	OverdueAt       *time.Time `json:"overdue_at,omitempty"`
	FirstResponseAt *time.Time `json:"first_response_at,omitempty"`
	Replies         int        `json:"replies"`
	ReplyChannelID  string     `json:"reply_channel_id,omitempty"`
	ReplyPostID     string     `json:"reply_post_id,omitempty"`
	ReplyURL        string     `json:"reply_url,omitempty"`
	ClosedAt        *time.Time `json:"closed_at,omitempty"`
	ClosedBy        string     `json:"closed_by,omitempty"`
	CloseReason     string     `json:"close_reason,omitempty"`
}
