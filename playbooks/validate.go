package playbooks

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/cmo-dev/cmo/rules"
)

// validator walks a decoded playbook and records every problem.
type validator struct {
	c        *collector
	p        *Plan
	ids      map[string]string // step id → field where first defined
	contents map[string]*ContentStep
	last     string // the latest content step in document order
}

func validate(c *collector, p *Plan, root *yaml.Node) {
	if p.APIVersion != APIVersion {
		c.add(keyPos(root, "apiVersion"), "apiVersion", "must be %q, got %q", APIVersion, p.APIVersion)
	}
	if !idPattern.MatchString(p.Name) {
		c.add(keyPos(root, "name"), "name", "must be 1-63 lower-case letters, digits, '-' or '_', got %q", p.Name)
	}
	for _, name := range sortedKeys(p.Params) {
		validateParam(c, "params."+name, name, p.Params[name])
	}
	v := &validator{c: c, p: p, ids: map[string]string{}, contents: map[string]*ContentStep{}}
	switch p.Kind {
	case KindCampaign:
		for _, name := range sortedKeys(p.Goals) {
			g := p.Goals[name]
			if g.IsZero() {
				c.add(keyPos(root, "goals"), "goals."+name, "empty goal rule")
			}
			compileExpr(c, "goals."+name, g, rules.Campaign)
		}
		if len(p.Steps) == 0 {
			c.add(keyPos(root, "steps"), "steps", "a campaign needs at least one step")
		}
		for _, f := range []struct {
			name string
			set  bool
		}{{"detect", !p.Detect.IsZero()}, {"window", p.Window != 0}, {"severity", p.Severity != nil}, {"escalation", p.Escalation != nil},
			{"freeze", p.Freeze != nil}, {"statement", p.Statement != nil}, {"resolve", p.Resolve != nil}} {
			if f.set {
				c.add(keyPos(root, f.name), f.name, "only Crisis playbooks have %s", f.name)
			}
		}
		v.steps(p.Steps, "steps")
	case KindCrisis:
		v.crisis(root)
	default:
		c.add(keyPos(root, "kind"), "kind", "must be %s or %s, got %q", KindCampaign, KindCrisis, p.Kind)
	}
}

func (v *validator) steps(list []Step, field string) {
	for i := range list {
		v.step(&list[i], fmt.Sprintf("%s[%d]", field, i))
	}
}

func (v *validator) step(s *Step, field string) {
	c := v.c
	if !idPattern.MatchString(s.ID) {
		c.add(s.Pos, field+".id", "every step needs an id of lower-case letters, digits, '-' or '_', got %q", s.ID)
	} else if first, dup := v.ids[s.ID]; dup {
		c.add(s.Pos, field+".id", "step id %q is already used by %s", s.ID, first)
	} else {
		v.ids[s.ID] = field
	}
	compileExpr(c, field+".when", s.When, rules.Campaign)
	if s.Else != nil && s.When.IsZero() {
		c.add(s.Pos, field+".else", "else needs a when on the same step")
	}
	kinds := s.kinds()
	if len(kinds) != 1 {
		if len(kinds) == 0 {
			c.add(s.Pos, field, "step %q does nothing: give it one of %s", s.ID, strings.Join(StepKinds, ", "))
		} else {
			c.add(s.Pos, field, "step %q must have exactly one of %s, has %s", s.ID, strings.Join(StepKinds, ", "), strings.Join(kinds, " and "))
		}
		return
	}
	switch {
	case s.Content != nil:
		v.content(field+".content", s.Content)
		v.contents[s.ID] = s.Content
		v.last = s.ID
	case s.Check != nil:
		ck := s.Check
		ck.Content = v.contentRef(field+".check.content", ck.Pos, ck.Content)
		for i, l := range ck.Languages {
			if !slices.Contains(Languages, l) {
				c.add(ck.Pos, fmt.Sprintf("%s.check.languages[%d]", field, i), "spelling languages are %s, got %q", strings.Join(Languages, ", "), l)
			}
		}
		switch ck.Spelling {
		case "":
			ck.Spelling = "warn"
		case "warn", "block":
		default:
			c.add(ck.Pos, field+".check.spelling", "must be warn or block, got %q", ck.Spelling)
		}
	case s.Approval != nil:
		v.approval(field+".approval", s.Approval)
	case s.Publish != nil:
		v.publish(field+".publish", s.Publish)
	case s.Wait != nil:
		v.wait(field+".wait", s.Wait)
	case s.Collect != nil:
		if s.Collect.Publish != "" {
			if t := v.p.StepByID(s.Collect.Publish); t == nil || t.Publish == nil {
				c.add(s.Collect.Pos, field+".collect.publish", "%q is not a publish step", s.Collect.Publish)
			}
		}
	case s.Notify != nil:
		n := s.Notify
		if len(n.To) == 0 {
			c.add(n.Pos, field+".notify.to", "notify needs at least one target like slack:community")
		}
		validateTargets(c, field+".notify.to", n.Pos, n.To)
		if strings.TrimSpace(n.Message) == "" {
			c.add(n.Pos, field+".notify.message", "notify needs a message")
		}
		checkTemplate(c, v.p, field+".notify.message", n.Pos, n.Message)
	case s.Report != nil:
	case s.Parallel != nil:
		if len(s.Parallel) < 2 {
			c.add(s.Pos, field+".parallel", "parallel needs at least two branches")
		}
		v.steps(s.Parallel, field+".parallel")
	case s.Sequence != nil:
		if len(s.Sequence) == 0 {
			c.add(s.Pos, field+".steps", "an empty group of steps")
		}
		v.steps(s.Sequence, field+".steps")
	case s.Repeat != nil:
		r := s.Repeat
		if r.Until.IsZero() {
			c.add(r.Pos, field+".repeat.until", "repeat needs an until rule")
		}
		compileExpr(c, field+".repeat.until", r.Until, rules.Campaign)
		if r.Max < 1 || r.Max > 1000 {
			c.add(r.Pos, field+".repeat.max", "repeat needs a max from 1 to 1000, got %d", r.Max)
		}
		if len(r.Steps) == 0 {
			c.add(r.Pos, field+".repeat.steps", "repeat needs steps")
		}
		v.steps(r.Steps, field+".repeat.steps")
	}
	if s.Else != nil {
		v.steps(s.Else, field+".else")
	}
}

func (v *validator) contentRef(field string, pos Pos, ref string) string {
	if ref == "" {
		if v.last == "" {
			v.c.add(pos, field, "no content step comes before this step")
		}
		return v.last
	}
	if _, ok := v.contents[ref]; !ok {
		v.c.add(pos, field, "%q is not a content step defined before this step", ref)
	}
	return ref
}

func (v *validator) content(field string, cs *ContentStep) {
	c := v.c
	if strings.TrimSpace(cs.Template) == "" {
		c.add(cs.Pos, field+".template", "content needs a template")
	}
	checkTemplate(c, v.p, field+".template", cs.Pos, cs.Template)
	for _, k := range sortedKeys(cs.Variants) {
		checkTemplate(c, v.p, field+".variants."+k, cs.Pos, cs.Variants[k])
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
	for i, l := range cs.Links {
		if !strings.HasPrefix(l, "https://") && !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "{{") {
			c.add(cs.Pos, fmt.Sprintf("%s.links[%d]", field, i), "links start with https:// or http://, got %q", l)
		}
	}
}

func (v *validator) approval(field string, a *ApprovalStep) {
	c := v.c
	a.Content = v.contentRef(field+".content", a.Pos, a.Content)
	if a.Within < 0 && !c.has(field+".within") {
		c.add(a.Pos, field+".within", "must not be negative")
	}
	switch a.OnTimeout {
	case "":
		a.OnTimeout = OnTimeoutCancel
	case OnTimeoutCancel:
	case OnTimeoutRemind:
		if a.Reminders < 1 {
			c.add(a.Pos, field+".reminders", "on_timeout: remind needs reminders (how many before cancelling)")
		}
	case OnTimeoutEscalate:
		if a.EscalateTo == "" {
			c.add(a.Pos, field+".escalate_to", "on_timeout: escalate needs escalate_to, the role to ask next")
		}
	case OnTimeoutFallback:
		if a.Fallback == "" {
			c.add(a.Pos, field+".fallback", "on_timeout: fallback needs fallback, a content step to publish instead")
		} else if _, ok := v.contents[a.Fallback]; !ok {
			c.add(a.Pos, field+".fallback", "%q is not a content step defined before this step", a.Fallback)
		}
	default:
		c.add(a.Pos, field+".on_timeout", "must be one of cancel, remind, escalate, fallback, got %q", a.OnTimeout)
	}
	if a.OnTimeout != OnTimeoutCancel && a.Within == 0 {
		c.add(a.Pos, field+".within", "on_timeout %s needs a within deadline", a.OnTimeout)
	}
}

func (v *validator) publish(field string, pub *PublishStep) {
	c := v.c
	pub.Content = v.contentRef(field+".content", pub.Pos, pub.Content)
	if len(pub.Channels) == 0 {
		if cs := v.contents[pub.Content]; cs != nil {
			pub.Channels = cs.Channels
		}
	}
	validateChannels(c, field+".channels", pub.Pos, pub.Channels)
	if cs := v.contents[pub.Content]; cs != nil {
		for i, ch := range pub.Channels {
			if !slices.Contains(cs.Channels, ch) {
				c.add(pub.Pos, fmt.Sprintf("%s.channels[%d]", field, i), "content %q is not drafted for %q (it is for %s)", pub.Content, ch, strings.Join(cs.Channels, ", "))
			}
		}
	}
	if pub.At != "" && pub.After != 0 {
		c.add(pub.Pos, field, "give at or after, not both")
	}
	if pub.At != "" {
		v.timeRef(field+".at", pub.Pos, pub.At)
	}
}

func (v *validator) wait(field string, w *WaitStep) {
	c := v.c
	n := 0
	for _, set := range []bool{w.For != 0, w.Until != "", !w.Rule.IsZero()} {
		if set {
			n++
		}
	}
	if n != 1 && !c.has(field+".for") {
		c.add(w.Pos, field, "wait needs exactly one of for, until, rule")
	}
	if w.For < 0 {
		c.add(w.Pos, field+".for", "must be positive")
	}
	if w.Until != "" {
		v.timeRef(field+".until", w.Pos, w.Until)
	}
	if !w.Rule.IsZero() {
		compileExpr(c, field+".rule", w.Rule, rules.Campaign)
		if w.Every <= 0 {
			c.add(w.Pos, field+".every", "a rule wait needs every: how often to check it")
		}
		if w.Timeout <= 0 {
			c.add(w.Pos, field+".timeout", "a rule wait needs a timeout")
		}
	} else if w.Every != 0 || w.Timeout != 0 {
		c.add(w.Pos, field, "every and timeout only go with rule")
	}
}

func (v *validator) timeRef(field string, pos Pos, s string) {
	ref, err := ParseTimeRef(s)
	if err != nil {
		v.c.add(pos, field, "%v", err)
		return
	}
	if ref.Param != "" {
		prm, ok := v.p.Params[ref.Param]
		if !ok {
			v.c.add(pos, field, "parameter %q is not declared", ref.Param)
		} else if prm.Type != "time" {
			v.c.add(pos, field, "parameter %q has type %s; a time is needed", ref.Param, prm.Type)
		}
	}
}

func (v *validator) crisis(root *yaml.Node) {
	c, p := v.c, v.p
	if p.Steps != nil {
		c.add(keyPos(root, "steps"), "steps", "Crisis playbooks have no steps: their procedure is detect, severity, escalation, freeze, statement, resolve")
	}
	if p.Goals != nil {
		c.add(keyPos(root, "goals"), "goals", "only Campaign playbooks have goals")
	}
	if p.Detect.IsZero() {
		c.add(keyPos(root, "detect"), "detect", "a crisis playbook needs a detect rule")
	}
	compileExpr(c, "detect", p.Detect, rules.Crisis)
	if len(p.Severity) == 0 {
		c.add(keyPos(root, "severity"), "severity", "a crisis playbook needs severity rules")
	}
	for i, r := range p.Severity {
		f := fmt.Sprintf("severity[%d]", i)
		if !slices.Contains(SeverityLevels, r.Level) {
			c.add(r.Pos, f+".level", "must be one of %s, got %q", strings.Join(SeverityLevels, ", "), r.Level)
		}
		if r.When.IsZero() {
			c.add(r.Pos, f+".when", "severity rule needs when")
		}
		compileExpr(c, f+".when", r.When, rules.Crisis)
	}
	if len(p.Escalation) == 0 {
		c.add(keyPos(root, "escalation"), "escalation", "a crisis playbook needs at least one escalation tier")
	}
	for i, t := range p.Escalation {
		f := fmt.Sprintf("escalation[%d]", i)
		if len(t.Notify) == 0 {
			c.add(t.Pos, f+".notify", "a tier needs targets to notify")
		}
		validateTargets(c, f+".notify", t.Pos, t.Notify)
		if t.AckWithin <= 0 && !c.has(f+".ack_within") {
			c.add(t.Pos, f+".ack_within", "a tier needs ack_within, the time to acknowledge")
		}
		if t.Repeat != 0 && i != len(p.Escalation)-1 {
			c.add(t.Pos, f+".repeat", "only the last tier repeats")
		}
	}
	if fz := p.Freeze; fz != nil {
		compileExpr(c, "freeze.when", fz.When, rules.Freeze)
		switch fz.Scope {
		case "", "brand":
			fz.Scope = "brand"
		case "channels":
			if len(fz.Channels) == 0 {
				c.add(fz.Pos, "freeze.channels", "scope channels needs the channels")
			}
			validateChannels(c, "freeze.channels", fz.Pos, fz.Channels)
		case "tags":
			if len(fz.Tags) == 0 {
				c.add(fz.Pos, "freeze.tags", "scope tags needs the tags")
			}
		default:
			c.add(fz.Pos, "freeze.scope", "must be brand, channels or tags, got %q", fz.Scope)
		}
		switch fz.OnUnfreeze {
		case "":
			fz.OnUnfreeze = "reschedule"
		case "drop", "reschedule":
		default:
			c.add(fz.Pos, "freeze.on_unfreeze", "must be drop or reschedule, got %q", fz.OnUnfreeze)
		}
	}
	if st := p.Statement; st != nil {
		if strings.TrimSpace(st.Template) == "" {
			c.add(st.Pos, "statement.template", "the statement needs a template")
		}
		if _, err := parseTemplate(st.Template); err != nil {
			c.add(st.Pos, "statement.template", "template: %v", err)
		}
		if len(st.Channels) == 0 {
			c.add(st.Pos, "statement.channels", "the statement needs channels")
		}
		validateChannels(c, "statement.channels", st.Pos, st.Channels)
		if a := st.Approval; a != nil {
			if a.Content != "" || a.Fallback != "" {
				c.add(a.Pos, "statement.approval", "the statement's approval takes role, within and on_timeout; the fallback text goes in statement.fallback")
			}
			switch a.OnTimeout {
			case "":
				a.OnTimeout = OnTimeoutEscalate
			case OnTimeoutEscalate, OnTimeoutCancel:
			case OnTimeoutFallback:
				if st.Fallback == "" {
					c.add(a.Pos, "statement.fallback", "on_timeout: fallback needs a pre-approved statement.fallback")
				}
			default:
				c.add(a.Pos, "statement.approval.on_timeout", "must be escalate, cancel or fallback, got %q", a.OnTimeout)
			}
		}
	}
	if r := p.Resolve; r == nil {
		c.add(keyPos(root, "resolve"), "resolve", "a crisis playbook needs a resolve rule")
	} else {
		if r.When.IsZero() {
			c.add(r.Pos, "resolve.when", "resolve needs when")
		}
		compileExpr(c, "resolve.when", r.When, rules.Crisis)
		if r.Hold < 0 {
			c.add(r.Pos, "resolve.hold", "must not be negative")
		}
	}
}

func validateTargets(c *collector, field string, pos Pos, targets []string) {
	for i, t := range targets {
		kind, name, ok := strings.Cut(t, ":")
		if !ok || name == "" || !slices.Contains(NotifierKinds, kind) {
			c.add(pos, fmt.Sprintf("%s[%d]", field, i), "target %q must be KIND:NAME with KIND one of %s", t, strings.Join(NotifierKinds, ", "))
		}
	}
}

var templateField = regexp.MustCompile(`\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)`)

func parseTemplate(text string) (*template.Template, error) {
	return template.New("content").Option("missingkey=error").Parse(text)
}

// checkTemplate parses a text/template and checks the parameters it uses
// are declared.
func checkTemplate(c *collector, p *Plan, field string, pos Pos, text string) {
	if _, err := parseTemplate(text); err != nil {
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
