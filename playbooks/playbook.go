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
	"text/template"
	"time"

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
	Goals       map[string]string `yaml:"goals" json:"goals,omitempty"`
	Steps       []Step            `yaml:"steps" json:"steps"`

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

// Step is one node of a playbook. Exactly one of its action fields is set.
type Step struct {
	Pos      Pos           `yaml:"-" json:"pos"`
	ID       string        `yaml:"id" json:"id"`
	Title    string        `yaml:"title" json:"title,omitempty"`
	Content  *ContentStep  `yaml:"content" json:"content,omitempty"`
	Approval *ApprovalStep `yaml:"approval" json:"approval,omitempty"`
	Publish  *PublishStep  `yaml:"publish" json:"publish,omitempty"`
	Wait     *WaitStep     `yaml:"wait" json:"wait,omitempty"`
	Report   *ReportStep   `yaml:"report" json:"report,omitempty"`
}

// Step kinds, as returned by Step.Kind.
const (
	StepContent  = "content"
	StepApproval = "approval"
	StepPublish  = "publish"
	StepWait     = "wait"
	StepReport   = "report"
)

// Kind names the action the step performs.
func (s *Step) Kind() string {
	switch {
	case s.Content != nil:
		return StepContent
	case s.Approval != nil:
		return StepApproval
	case s.Publish != nil:
		return StepPublish
	case s.Wait != nil:
		return StepWait
	case s.Report != nil:
		return StepReport
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
	Channels []string          `yaml:"channels" json:"channels"`
}

// ApprovalStep waits for a person to approve the content before it goes out.
type ApprovalStep struct {
	Pos       Pos      `yaml:"-" json:"-"`
	Content   string   `yaml:"content" json:"content,omitempty"`
	Role      string   `yaml:"role" json:"role,omitempty"`
	Within    Duration `yaml:"within" json:"within,omitempty"`
	OnTimeout string   `yaml:"on_timeout" json:"on_timeout,omitempty"`
}

// Approval timeout outcomes.
const (
	OnTimeoutCancel = "cancel"
)

// PublishStep posts approved content to channels, now, at a time, or after a delay.
type PublishStep struct {
	Pos      Pos      `yaml:"-" json:"-"`
	Content  string   `yaml:"content" json:"content,omitempty"`
	Channels []string `yaml:"channels" json:"channels,omitempty"`
	At       string   `yaml:"at" json:"at,omitempty"`
	After    Duration `yaml:"after" json:"after,omitempty"`
}

// WaitStep pauses the playbook on a durable timer.
type WaitStep struct {
	Pos Pos      `yaml:"-" json:"-"`
	For Duration `yaml:"for" json:"for"`
}

// ReportStep collects the numbers of what was published and stores a report.
type ReportStep struct {
	Pos Pos `yaml:"-" json:"-"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

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

func validate(c *collector, p *Plan, root *yaml.Node) {
	if p.APIVersion != APIVersion {
		c.add(keyPos(root, "apiVersion"), "apiVersion", "must be %q, got %q", APIVersion, p.APIVersion)
	}
	switch p.Kind {
	case KindCampaign:
	case KindCrisis:
		c.add(keyPos(root, "kind"), "kind", "Crisis playbooks are not supported by this version of cmo")
	default:
		c.add(keyPos(root, "kind"), "kind", "must be %s or %s, got %q", KindCampaign, KindCrisis, p.Kind)
	}
	if !idPattern.MatchString(p.Name) {
		c.add(keyPos(root, "name"), "name", "must be 1-63 lower-case letters, digits, '-' or '_', got %q", p.Name)
	}
	for _, name := range sortedKeys(p.Params) {
		validateParam(c, "params."+name, name, p.Params[name])
	}
	for _, name := range sortedKeys(p.Goals) {
		if strings.TrimSpace(p.Goals[name]) == "" {
			c.add(keyPos(root, "goals"), "goals."+name, "empty goal rule")
		}
	}
	if len(p.Steps) == 0 {
		c.add(keyPos(root, "steps"), "steps", "a playbook needs at least one step")
	}
	seen := map[string]int{}
	contents := map[string]*ContentStep{}
	lastContent := ""
	for i := range p.Steps {
		s := &p.Steps[i]
		field := fmt.Sprintf("steps[%d]", i)
		if !idPattern.MatchString(s.ID) {
			c.add(s.Pos, field+".id", "every step needs an id of lower-case letters, digits, '-' or '_', got %q", s.ID)
		} else if j, dup := seen[s.ID]; dup {
			c.add(s.Pos, field+".id", "step id %q is already used by steps[%d]", s.ID, j)
		}
		seen[s.ID] = i
		n := 0
		for _, set := range []bool{s.Content != nil, s.Approval != nil, s.Publish != nil, s.Wait != nil, s.Report != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			c.add(s.Pos, field, "step %q must have exactly one of content, approval, publish, wait, report (has %d)", s.ID, n)
			continue
		}
		switch {
		case s.Content != nil:
			validateContent(c, p, field+".content", s.Content)
			contents[s.ID] = s.Content
			lastContent = s.ID
		case s.Approval != nil:
			a := s.Approval
			a.Content = resolveContentRef(c, field+".approval.content", a.Pos, a.Content, lastContent, contents)
			if a.Within < 0 && !c.has(field+".approval.within") {
				c.add(a.Pos, field+".approval.within", "must not be negative")
			}
			switch a.OnTimeout {
			case "":
				a.OnTimeout = OnTimeoutCancel
			case OnTimeoutCancel:
			default:
				c.add(a.Pos, field+".approval.on_timeout", "must be %q, got %q", OnTimeoutCancel, a.OnTimeout)
			}
		case s.Publish != nil:
			pub := s.Publish
			pub.Content = resolveContentRef(c, field+".publish.content", pub.Pos, pub.Content, lastContent, contents)
			if len(pub.Channels) == 0 {
				if cs := contents[pub.Content]; cs != nil {
					pub.Channels = cs.Channels
				}
			}
			validateChannels(c, field+".publish.channels", pub.Pos, pub.Channels)
			if pub.At != "" && pub.After != 0 {
				c.add(pub.Pos, field+".publish", "give at or after, not both")
			}
			if pub.At != "" {
				validateAt(c, p, field+".publish.at", pub.Pos, pub.At)
			}
		case s.Wait != nil:
			if s.Wait.For <= 0 && !c.has(field+".wait.for") {
				c.add(s.Wait.Pos, field+".wait.for", "must be a positive duration")
			}
		}
	}
}

func resolveContentRef(c *collector, field string, pos Pos, ref, last string, contents map[string]*ContentStep) string {
	if ref == "" {
		if last == "" {
			c.add(pos, field, "no content step comes before this step")
		}
		return last
	}
	if _, ok := contents[ref]; !ok {
		c.add(pos, field, "%q is not a content step defined before this step", ref)
	}
	return ref
}

func validateContent(c *collector, p *Plan, field string, cs *ContentStep) {
	if strings.TrimSpace(cs.Template) == "" {
		c.add(cs.Pos, field+".template", "content needs a template")
	}
	checkTemplate(c, p, field+".template", cs.Pos, cs.Template)
	for _, k := range sortedKeys(cs.Variants) {
		checkTemplate(c, p, field+".variants."+k, cs.Pos, cs.Variants[k])
	}
	if len(cs.Channels) == 0 {
		c.add(cs.Pos, field+".channels", "content needs at least one channel")
	}
	validateChannels(c, field+".channels", cs.Pos, cs.Channels)
	for i, h := range cs.Hashtags {
		if strings.ContainsAny(h, " \t#") || h == "" {
			c.add(cs.Pos, fmt.Sprintf("%s.hashtags[%d]", field, i), "write hashtags without '#' or spaces, got %q", h)
		}
	}
}

var templateField = regexp.MustCompile(`\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)`)

func checkTemplate(c *collector, p *Plan, field string, pos Pos, text string) {
	if _, err := template.New(field).Option("missingkey=error").Parse(text); err != nil {
		c.add(pos, field, "template: %v", err)
		return
	}
	for _, m := range templateField.FindAllStringSubmatch(text, -1) {
		if _, ok := p.Params[m[1]]; !ok {
			c.add(pos, field, "template uses {{.%s}} but the playbook has no parameter %q", m[1], m[1])
		}
	}
}

func validateChannels(c *collector, field string, pos Pos, refs []string) {
	for i, r := range refs {
		if !idPattern.MatchString(r) {
			c.add(pos, fmt.Sprintf("%s[%d]", field, i), "%q is neither a platform (%s) nor a channel name", r, strings.Join(Platforms, ", "))
		}
	}
}

func validateAt(c *collector, p *Plan, field string, pos Pos, at string) {
	if name, ok := strings.CutPrefix(at, "params."); ok {
		prm, exists := p.Params[name]
		if !exists {
			c.add(pos, field, "parameter %q is not declared", name)
		} else if prm.Type != "time" {
			c.add(pos, field, "parameter %q has type %s; at needs a time", name, prm.Type)
		}
		return
	}
	if _, err := time.Parse(time.RFC3339, at); err != nil {
		c.add(pos, field, "want an RFC 3339 time (2026-05-01T09:00:00+02:00) or params.NAME, got %q", at)
	}
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

// ChannelRefs returns every channel reference the plan publishes to, sorted.
func (p *Plan) ChannelRefs() []string {
	set := map[string]bool{}
	for _, s := range p.Steps {
		if s.Publish != nil {
			for _, r := range s.Publish.Channels {
				set[r] = true
			}
		}
	}
	return sortedKeys(set)
}

// StepByID finds a step.
func (p *Plan) StepByID(id string) *Step {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return &p.Steps[i]
		}
	}
	return nil
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
