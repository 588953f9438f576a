// Package playbooks is the playbook language: YAML files that describe a
// campaign or a crisis procedure, parsed with positions, validated before
// anything runs, and compiled into a Plan — plain data that a workflow
// carries in its input so that a run keeps the version it started with.
//
// The package never imports Temporal: the same Plan is read by the API (to
// validate launches), the CLI (to lint files) and the workflows (to run).
package playbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// APIVersion is the only playbook schema version this build understands.
const APIVersion = "cmo/v1"

// Playbook kinds.
const (
	KindCampaign = "Campaign"
	KindCrisis   = "Crisis"
)

// Platforms that a channel reference may name; a reference that is not a
// platform is the name of one of the brand's channels, resolved at launch.
var Platforms = []string{"sandbox", "mastodon", "bluesky", "x", "linkedin", "facebook", "instagram", "webhook"}

// Plan is a validated playbook: plain, serialisable data. It travels in
// workflow inputs, so it must never hold credentials or anything a running
// history could not replay.
type Plan struct {
	APIVersion  string            `yaml:"apiVersion" json:"apiVersion"`
	Kind        string            `yaml:"kind" json:"kind"`
	Name        string            `yaml:"name" json:"name"`
	Title       string            `yaml:"title" json:"title,omitempty"`
	Description string            `yaml:"description" json:"description,omitempty"`
	Params      map[string]*Param `yaml:"params" json:"params,omitempty"`
	Goals       map[string]Expr   `yaml:"goals" json:"goals,omitempty"`
	Steps       []Step            `yaml:"steps" json:"steps,omitempty"`
	// Tags describe a campaign ("promo", "humour") so that a crisis
	// freeze can hold the campaigns that would read badly during it.
	Tags []string `yaml:"tags" json:"tags,omitempty"`

	// Crisis playbooks: detection, severity and the response procedure.
	Detect   Expr           `yaml:"detect" json:"detect,omitempty"`
	Window   Duration       `yaml:"window" json:"window,omitempty"`
	Severity []SeverityRule `yaml:"severity" json:"severity,omitempty"`
	// Deescalate lets severity fall: while it holds, a new window may set
	// a lower level. Without it severity only rises (or falls by hand).
	Deescalate Expr       `yaml:"deescalate" json:"deescalate,omitempty"`
	Escalation []Tier     `yaml:"escalation" json:"escalation,omitempty"`
	Freeze     *Freeze    `yaml:"freeze" json:"freeze,omitempty"`
	Statement  *Statement `yaml:"statement" json:"statement,omitempty"`
	Resolve    *Resolve   `yaml:"resolve" json:"resolve,omitempty"`

	// File is where the playbook was read from; Hash is the SHA-256 of its
	// bytes, recorded on every run so an auditor knows which text ran.
	File string `yaml:"-" json:"file"`
	Hash string `yaml:"-" json:"hash"`
}

// Param is one typed input of a playbook.
type Param struct {
	Pos         Pos      `yaml:"-" json:"-"`
	Type        string   `yaml:"type" json:"type"`
	Description string   `yaml:"description" json:"description,omitempty"`
	Required    *bool    `yaml:"required" json:"required,omitempty"`
	Default     any      `yaml:"default" json:"default,omitempty"`
	Values      []string `yaml:"values" json:"values,omitempty"`
}

// IsRequired reports whether a launch must give the parameter: explicitly
// required, or not required but with no default to fall back on.
func (p *Param) IsRequired() bool {
	if p.Required != nil {
		return *p.Required
	}
	return p.Default == nil
}

// Step is one node of a playbook. Exactly one action or control field is
// set; When guards it and Else runs instead when When is false.
type Step struct {
	Pos   Pos    `yaml:"-" json:"pos"`
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title" json:"title,omitempty"`
	When  Expr   `yaml:"when" json:"when,omitempty"`
	Else  []Step `yaml:"else" json:"else,omitempty"`

	Content  *ContentStep  `yaml:"content" json:"content,omitempty"`
	Check    *CheckStep    `yaml:"check" json:"check,omitempty"`
	Approval *ApprovalStep `yaml:"approval" json:"approval,omitempty"`
	Publish  *PublishStep  `yaml:"publish" json:"publish,omitempty"`
	Wait     *WaitStep     `yaml:"wait" json:"wait,omitempty"`
	Collect  *CollectStep  `yaml:"collect" json:"collect,omitempty"`
	Notify   *NotifyStep   `yaml:"notify" json:"notify,omitempty"`
	Report   *ReportStep   `yaml:"report" json:"report,omitempty"`
	Cost     *CostStep     `yaml:"cost" json:"cost,omitempty"`
	Parallel []Step        `yaml:"parallel" json:"parallel,omitempty"`
	Sequence []Step        `yaml:"steps" json:"steps,omitempty"`
	Repeat   *RepeatStep   `yaml:"repeat" json:"repeat,omitempty"`
}

// Step kinds, as returned by Step.Kind.
const (
	StepContent  = "content"
	StepCheck    = "check"
	StepApproval = "approval"
	StepPublish  = "publish"
	StepWait     = "wait"
	StepCollect  = "collect"
	StepNotify   = "notify"
	StepReport   = "report"
	StepCost     = "cost"
	StepParallel = "parallel"
	StepSequence = "steps"
	StepRepeat   = "repeat"
)

// StepKinds lists every step kind, for error messages.
var StepKinds = []string{StepContent, StepCheck, StepApproval, StepPublish, StepWait, StepCollect, StepNotify, StepReport, StepCost, StepParallel, StepSequence, StepRepeat}

// kinds returns the kinds set on the step.
func (s *Step) kinds() []string {
	var out []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{StepContent, s.Content != nil}, {StepCheck, s.Check != nil}, {StepApproval, s.Approval != nil},
		{StepPublish, s.Publish != nil}, {StepWait, s.Wait != nil}, {StepCollect, s.Collect != nil},
		{StepNotify, s.Notify != nil}, {StepReport, s.Report != nil}, {StepCost, s.Cost != nil}, {StepParallel, s.Parallel != nil},
		{StepSequence, s.Sequence != nil}, {StepRepeat, s.Repeat != nil},
	} {
		if k.set {
			out = append(out, k.name)
		}
	}
	return out
}

// Kind names the action the step performs.
func (s *Step) Kind() string {
	if ks := s.kinds(); len(ks) == 1 {
		return ks[0]
	}
	return ""
}

// ContentStep drafts the text to publish. Template is Go text/template over
// the parameters ({{.product}}); Variants override it per platform or channel.
type ContentStep struct {
	Pos      Pos               `yaml:"-" json:"-"`
	Template string            `yaml:"template" json:"template"`
	Variants map[string]string `yaml:"variants" json:"variants,omitempty"`
	Hashtags []string          `yaml:"hashtags" json:"hashtags,omitempty"`
	Links    []string          `yaml:"links" json:"links,omitempty"`
	Media    []MediaRef        `yaml:"media" json:"media,omitempty"`
	Channels []string          `yaml:"channels" json:"channels"`
}

// MediaRef is an image or video attached to content, by URL (a template
// over the parameters), with its description for people who cannot see it.
type MediaRef struct {
	Pos Pos    `yaml:"-" json:"-"`
	URL string `yaml:"url" json:"url"`
	Alt string `yaml:"alt" json:"alt,omitempty"`
}

// CheckStep is the quality gate on drafted content: platform limits,
// links, required and banned words, spelling.
type CheckStep struct {
	Pos         Pos      `yaml:"-" json:"-"`
	Content     string   `yaml:"content" json:"content,omitempty"`
	Languages   []string `yaml:"languages" json:"languages,omitempty"`
	Required    []string `yaml:"required" json:"required,omitempty"`
	Banned      []string `yaml:"banned" json:"banned,omitempty"`
	RequireLink bool     `yaml:"require_link" json:"require_link,omitempty"`
	Accept      []string `yaml:"accept" json:"accept,omitempty"`
	// Spelling says whether spelling findings block or only warn.
	Spelling string `yaml:"spelling" json:"spelling,omitempty"`
}

// Spelling languages the check step knows.
var Languages = []string{"ca", "es", "en"}

// ApprovalStep waits for a person to approve the content before it goes out.
type ApprovalStep struct {
	Pos     Pos      `yaml:"-" json:"-"`
	Content string   `yaml:"content" json:"content,omitempty"`
	Role    string   `yaml:"role" json:"role,omitempty"`
	Within  Duration `yaml:"within" json:"within,omitempty"`
	// OnTimeout is cancel, remind, escalate or fallback.
	OnTimeout  string `yaml:"on_timeout" json:"on_timeout,omitempty"`
	EscalateTo string `yaml:"escalate_to" json:"escalate_to,omitempty"`
	Reminders  int    `yaml:"reminders" json:"reminders,omitempty"`
	// Fallback is a content step published instead when time runs out.
	Fallback string `yaml:"fallback" json:"fallback,omitempty"`
	// FourEyes (default true) forbids the campaign's author to approve.
	FourEyes *bool `yaml:"four_eyes" json:"four_eyes,omitempty"`
}

// Approval timeout outcomes.
const (
	OnTimeoutCancel   = "cancel"
	OnTimeoutRemind   = "remind"
	OnTimeoutEscalate = "escalate"
	OnTimeoutFallback = "fallback"
)

// RequiresFourEyes reports whether the author may not approve.
func (a *ApprovalStep) RequiresFourEyes() bool { return a.FourEyes == nil || *a.FourEyes }

// PublishStep posts approved content to channels, now, at a time, or after a delay.
type PublishStep struct {
	Pos      Pos      `yaml:"-" json:"-"`
	Content  string   `yaml:"content" json:"content,omitempty"`
	Channels []string `yaml:"channels" json:"channels,omitempty"`
	// At is a time: RFC 3339, a local "2026-05-01 09:00" in the brand's
	// time zone, or params.NAME with an optional "+ 2h" / "- 1d".
	At    string   `yaml:"at" json:"at,omitempty"`
	After Duration `yaml:"after" json:"after,omitempty"`
}

// WaitStep pauses the playbook on durable timers: for a duration, until a
// time, or until a rule holds (checked every Every, at most Timeout).
type WaitStep struct {
	Pos     Pos      `yaml:"-" json:"-"`
	For     Duration `yaml:"for" json:"for,omitempty"`
	Until   string   `yaml:"until" json:"until,omitempty"`
	Rule    Expr     `yaml:"rule" json:"rule,omitempty"`
	Every   Duration `yaml:"every" json:"every,omitempty"`
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// CollectStep reads the current metrics of what the campaign published.
type CollectStep struct {
	Pos Pos `yaml:"-" json:"-"`
	// Publish limits collection to one publish step's posts.
	Publish string `yaml:"publish" json:"publish,omitempty"`
}

// NotifyStep sends a message to notification targets ("slack:community").
type NotifyStep struct {
	Pos     Pos      `yaml:"-" json:"-"`
	To      []string `yaml:"to" json:"to"`
	Message string   `yaml:"message" json:"message"`
}

// NotifierKinds are the kinds a notification target may name.
var NotifierKinds = []string{"slack", "email", "pagerduty", "webhook", "log"}

// ReportStep collects the numbers of what was published, evaluates the
// goals and stores a report.
type ReportStep struct {
	Pos Pos `yaml:"-" json:"-"`
}

// RepeatStep runs Steps again until Until holds, at most Max times.
type RepeatStep struct {
	Pos   Pos      `yaml:"-" json:"-"`
	Until Expr     `yaml:"until" json:"until"`
	Max   int      `yaml:"max" json:"max"`
	Every Duration `yaml:"every" json:"every,omitempty"`
	Steps []Step   `yaml:"steps" json:"steps"`
}

// SeverityRule gives a crisis a level when its rule holds; the first
// matching rule wins.
type SeverityRule struct {
	Pos   Pos    `yaml:"-" json:"-"`
	Level string `yaml:"level" json:"level"`
	When  Expr   `yaml:"when" json:"when"`
}

// Severity levels, lowest first.
var SeverityLevels = []string{"low", "medium", "high", "critical"}

// Tier is one escalation level: who is paged and how long they have to
// acknowledge before the next tier.
type Tier struct {
	Pos       Pos      `yaml:"-" json:"-"`
	Notify    []string `yaml:"notify" json:"notify"`
	AckWithin Duration `yaml:"ack_within" json:"ack_within"`
	// Repeat pages the tier again this many times (the last tier only).
	Repeat int `yaml:"repeat" json:"repeat,omitempty"`
}

// Freeze stops scheduled posts while a crisis lasts. Scope says which:
// every campaign of the brand, posts to some channels (names or
// platforms), campaigns with one of some tags, or campaigns for some
// markets.
type Freeze struct {
	Pos      Pos      `yaml:"-" json:"-"`
	When     Expr     `yaml:"when" json:"when"`
	Scope    string   `yaml:"scope" json:"scope"`
	Channels []string `yaml:"channels" json:"channels,omitempty"`
	Tags     []string `yaml:"tags" json:"tags,omitempty"`
	Markets  []string `yaml:"markets" json:"markets,omitempty"`
	// OnUnfreeze says what becomes of a post whose time passed during the
	// freeze: drop it, or reschedule it to publish right after the lift.
	OnUnfreeze string `yaml:"on_unfreeze" json:"on_unfreeze,omitempty"`
	// Reapprove asks for a new approval of a held post before it goes out.
	Reapprove bool `yaml:"reapprove" json:"reapprove,omitempty"`
}

// Freeze scopes.
const (
	FreezeBrand    = "brand"
	FreezeChannels = "channels"
	FreezeTags     = "tags"
	FreezeMarkets  = "markets"
)

// FreezeScopes lists every freeze scope, for error messages.
var FreezeScopes = []string{FreezeBrand, FreezeChannels, FreezeTags, FreezeMarkets}

// What becomes of a post whose time passed during a freeze.
const (
	UnfreezeDrop       = "drop"
	UnfreezeReschedule = "reschedule"
)

// Statement is the holding statement a crisis publishes once approved.
type Statement struct {
	Pos      Pos           `yaml:"-" json:"-"`
	Template string        `yaml:"template" json:"template"`
	Channels []string      `yaml:"channels" json:"channels"`
	Approval *ApprovalStep `yaml:"approval" json:"approval,omitempty"`
	// Fallback is pre-approved text used when approval times out.
	Fallback string `yaml:"fallback" json:"fallback,omitempty"`
}

// Resolve closes a crisis when its rule has held for Hold.
type Resolve struct {
	Pos  Pos      `yaml:"-" json:"-"`
	When Expr     `yaml:"when" json:"when"`
	Hold Duration `yaml:"hold" json:"hold"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidID reports whether s can name a playbook, step, campaign, brand or
// channel: 1-63 lower-case letters, digits, '-' or '_'. Such names go into
// visibility queries and URLs unescaped.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Parse reads and validates one playbook file. Every problem is reported
// with file:line:col and the field path; the result is nil when there is any.
func Parse(file string, src []byte) (*Plan, error) {
	c := &collector{file: file}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		c.add(yamlErrPos(err), "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, c.err()
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		c.add(Pos{Line: 1, Col: 1}, "", "file is empty")
		return nil, c.err()
	}
	p := &Plan{File: file}
	d := &decoder{c: c}
	d.decode(&root, reflectValue(p), "")
	for name, prm := range p.Params {
		if prm == nil {
			p.Params[name] = &Param{}
		}
	}
	sum := sha256.Sum256(src)
	p.Hash = hex.EncodeToString(sum[:])
	validate(c, p, root.Content[0])
	if err := c.err(); err != nil {
		return nil, err
	}
	return p, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrPos(err error) Pos {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		var line int
		fmt.Sscanf(m[1], "%d", &line)
		return Pos{Line: line, Col: 1}
	}
	return Pos{Line: 1, Col: 1}
}

// keyPos finds where a top-level or nested key is written, for errors about
// fields that are missing or wrong as a whole.
func keyPos(n *yaml.Node, key string) Pos {
	if n == nil || n.Kind != yaml.MappingNode {
		return Pos{Line: 1, Col: 1}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return nodePos(n.Content[i+1])
		}
	}
	return nodePos(n)
}

// IsPlatform reports whether ref names a platform rather than a channel.
func IsPlatform(ref string) bool {
	for _, p := range Platforms {
		if p == ref {
			return true
		}
	}
	return false
}

// Walk calls fn for every step, depth first in document order, including
// steps nested in parallel, steps, repeat and else.
func (p *Plan) Walk(fn func(s *Step)) { WalkSteps(p.Steps, fn) }

// WalkSteps is Walk over any list of steps, such as one branch.
func WalkSteps(steps []Step, fn func(s *Step)) {
	for i := range steps {
		s := &steps[i]
		fn(s)
		WalkSteps(s.Parallel, fn)
		WalkSteps(s.Sequence, fn)
		if s.Repeat != nil {
			WalkSteps(s.Repeat.Steps, fn)
		}
		WalkSteps(s.Else, fn)
	}
}

// ChannelRefs returns every channel reference the plan drafts for or
// publishes to, sorted; a crisis's statement channels included.
func (p *Plan) ChannelRefs() []string {
	set := map[string]bool{}
	p.Walk(func(s *Step) {
		if s.Content != nil {
			for _, r := range s.Content.Channels {
				set[r] = true
			}
		}
		if s.Publish != nil {
			for _, r := range s.Publish.Channels {
				set[r] = true
			}
		}
	})
	if p.Statement != nil {
		for _, r := range p.Statement.Channels {
			set[r] = true
		}
	}
	return sortedKeys(set)
}

// StepByID finds a step anywhere in the plan.
func (p *Plan) StepByID(id string) *Step {
	var found *Step
	p.Walk(func(s *Step) {
		if found == nil && s.ID == id {
			found = s
		}
	})
	return found
}

// DisplayTitle is the human title shown in the Temporal UI and reports.
func (p *Plan) DisplayTitle() string {
	if p.Title != "" {
		return p.Title
	}
	return p.Name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
