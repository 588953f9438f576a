package playbooks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"gopkg.in/yaml.v3"

	"github.com/cmo-dev/cmo/rules"
)

// validator walks a decoded playbook and records every problem.
type validator struct {
	c        *collector
	p        *Plan
	root     *yaml.Node
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
	v := &validator{c: c, p: p, root: root, ids: map[string]string{}, contents: map[string]*ContentStep{}}
	for _, name := range sortedKeys(p.Params) {
		f := "params." + name
		// A parameter that is not a mapping was reported by the decoder.
		if c.has(f) {
			continue
		}
		n := len(c.errs)
		validateParam(c, f, name, p.Params[name])
		// validateParam places its errors at the parameter; a bad name is
		// better shown at the name and a bad default at the default.
		for _, e := range c.errs[n:] {
			switch e.Field {
			case f:
				e.Pos = v.keyAt(f, e.Pos)
			case f + ".default":
				e.Pos = v.at(e.Field, e.Pos)
			}
		}
	}
	switch p.Kind {
	case KindCampaign:
		for _, name := range sortedKeys(p.Goals) {
			g := p.Goals[name]
			if g.IsZero() && !c.has("goals."+name) {
				c.add(v.at("goals."+name, keyPos(root, "goals")), "goals."+name, "empty goal rule")
			}
			compileExpr(c, "goals."+name, g, rules.Campaign)
		}
		if len(p.Steps) == 0 {
			c.add(keyPos(root, "steps"), "steps", "a campaign needs at least one step")
		}
		v.labels("tags", keyPos(root, "tags"), p.Tags, "tags")
		for _, f := range []struct {
			name string
			set  bool
		}{{"detect", !p.Detect.IsZero()}, {"window", p.Window != 0}, {"severity", p.Severity != nil}, {"deescalate", !p.Deescalate.IsZero()}, {"escalation", p.Escalation != nil},
			{"freeze", p.Freeze != nil}, {"statement", p.Statement != nil}, {"resolve", p.Resolve != nil}} {
			if f.set {
				c.add(v.keyAt(f.name, keyPos(root, f.name)), f.name, "only Crisis playbooks have %s", f.name)
			}
		}
		v.steps(p.Steps, "steps")
		checkStructure(c, p.Steps, "steps", false, false)
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
	if c.has(field) {
		// Not a mapping: the decoder said so, and there is nothing to check.
		return
	}
	if !idPattern.MatchString(s.ID) {
		if !c.has(field + ".id") {
			c.add(v.keyAt(field+".id", s.Pos), field+".id", "every step needs an id of lower-case letters, digits, '-' or '_', got %q", s.ID)
		}
	} else if first, dup := v.ids[s.ID]; dup {
		c.add(v.keyAt(field+".id", s.Pos), field+".id", "step id %q is already used by %s", s.ID, first)
	} else {
		v.ids[s.ID] = field
	}
	compileExpr(c, field+".when", s.When, rules.Campaign)
	if s.Else != nil && s.When.IsZero() && !c.has(field+".when") {
		c.add(v.keyAt(field+".else", s.Pos), field+".else", "else needs a when on the same step")
	}
	kinds := s.kinds()
	if len(kinds) != 1 {
		if len(kinds) == 0 {
			// A kind that was written but failed to decode, or one this
			// version does not know ("tweet:"), is reported already.
			for _, e := range c.errs {
				rest, ok := strings.CutPrefix(e.Field, field+".")
				if !ok || strings.ContainsAny(rest, ".[") {
					continue
				}
				if slices.Contains(StepKinds, rest) || strings.HasPrefix(e.Msg, "unknown field") {
					return
				}
			}
			c.add(s.Pos, field, "step %q does nothing: give it one of %s", s.ID, strings.Join(StepKinds, ", "))
		} else {
			c.add(s.Pos, field, "step %q must have exactly one of %s, has %s", s.ID, strings.Join(StepKinds, ", "), strings.Join(kinds, " and "))
		}
		return
	}
	switch {
	case c.has(field + "." + kinds[0]):
		// Not a mapping: the decoder said so.
	case s.Content != nil:
		v.content(field+".content", s.Content)
		v.contents[s.ID] = s.Content
		v.last = s.ID
	case s.Check != nil:
		ck := s.Check
		ck.Content = v.contentRef(field+".check.content", ck.Pos, ck.Content)
		for i, l := range ck.Languages {
			if !slices.Contains(Languages, l) {
				f := fmt.Sprintf("%s.check.languages[%d]", field, i)
				c.add(v.at(f, ck.Pos), f, "spelling languages are %s, got %q", strings.Join(Languages, ", "), l)
			}
		}
		switch ck.Spelling {
		case "":
			ck.Spelling = "warn"
		case "warn", "block":
		default:
			c.add(v.at(field+".check.spelling", ck.Pos), field+".check.spelling", "must be warn or block, got %q", ck.Spelling)
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
				c.add(v.at(field+".collect.publish", s.Collect.Pos), field+".collect.publish", "%q is not a publish step", s.Collect.Publish)
			}
		}
	case s.Notify != nil:
		n := s.Notify
		if len(n.To) == 0 && !c.has(field+".notify.to") {
			c.add(v.at(field+".notify.to", n.Pos), field+".notify.to", "notify needs at least one target like slack:community")
		}
		v.targets(field+".notify.to", n.Pos, n.To)
		if strings.TrimSpace(n.Message) == "" && !c.has(field+".notify.message") {
			c.add(v.at(field+".notify.message", n.Pos), field+".notify.message", "notify needs a message")
		}
		v.template(field+".notify.message", n.Pos, n.Message)
	case s.Report != nil:
	case s.Cost != nil:
		v.cost(field+".cost", s.Cost)
	case s.Parallel != nil:
		if len(s.Parallel) < 2 {
			c.add(v.keyAt(field+".parallel", s.Pos), field+".parallel", "parallel needs at least two branches")
		}
		v.steps(s.Parallel, field+".parallel")
	case s.Sequence != nil:
		if len(s.Sequence) == 0 {
			c.add(v.keyAt(field+".steps", s.Pos), field+".steps", "an empty group of steps")
		}
		v.steps(s.Sequence, field+".steps")
	case s.Repeat != nil:
		r := s.Repeat
		if r.Until.IsZero() && !c.has(field+".repeat.until") {
			c.add(v.at(field+".repeat.until", r.Pos), field+".repeat.until", "repeat needs an until rule")
		}
		compileExpr(c, field+".repeat.until", r.Until, rules.Campaign)
		if (r.Max < 1 || r.Max > 1000) && !c.has(field+".repeat.max") {
			c.add(v.at(field+".repeat.max", r.Pos), field+".repeat.max", "repeat needs a max from 1 to 1000, got %d", r.Max)
		}
		if len(r.Steps) == 0 && !c.has(field+".repeat.steps") {
			c.add(v.at(field+".repeat.steps", r.Pos), field+".repeat.steps", "repeat needs steps")
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
		v.c.add(v.at(field, pos), field, "%q is not a content step defined before this step", ref)
	}
	return ref
}

func (v *validator) content(field string, cs *ContentStep) {
	c := v.c
	if strings.TrimSpace(cs.Template) == "" && !c.has(field+".template") {
		c.add(v.at(field+".template", cs.Pos), field+".template", "content needs a template")
	}
	v.template(field+".template", cs.Pos, cs.Template)
	for _, k := range sortedKeys(cs.Variants) {
		v.template(field+".variants."+k, cs.Pos, cs.Variants[k])
	}
	if len(cs.Channels) == 0 && !c.has(field+".channels") {
		c.add(v.at(field+".channels", cs.Pos), field+".channels", "content needs at least one channel")
	}
	v.channels(field+".channels", cs.Pos, cs.Channels)
	for i, h := range cs.Hashtags {
		if strings.ContainsAny(h, " \t#") || h == "" {
			f := fmt.Sprintf("%s.hashtags[%d]", field, i)
			c.add(v.at(f, cs.Pos), f, "write hashtags without '#' or spaces, got %q", h)
		}
	}
	for i, l := range cs.Links {
		f := fmt.Sprintf("%s.links[%d]", field, i)
		if !strings.HasPrefix(l, "https://") && !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "{{") {
			c.add(v.at(f, cs.Pos), f, "links start with https:// or http://, got %q", l)
		}
		if strings.Contains(l, "{{") {
			// Render fills links in like the template, and fails the same way.
			v.template(f, cs.Pos, l)
		}
	}
	for i, m := range cs.Media {
		f := fmt.Sprintf("%s.media[%d].url", field, i)
		if !strings.HasPrefix(m.URL, "https://") && !strings.HasPrefix(m.URL, "http://") && !strings.HasPrefix(m.URL, "{{") {
			c.add(m.Pos, f, "media are given by an https:// or http:// URL, got %q", m.URL)
		}
		if strings.Contains(m.URL, "{{") {
			v.template(f, m.Pos, m.URL)
		}
	}
}

func (v *validator) approval(field string, a *ApprovalStep) {
	c := v.c
	a.Content = v.contentRef(field+".content", a.Pos, a.Content)
	if a.Within < 0 && !c.has(field+".within") {
		c.add(v.at(field+".within", a.Pos), field+".within", "must not be negative")
	}
	// A missing companion is reported where on_timeout asks for it.
	onTimeout := v.at(field+".on_timeout", a.Pos)
	switch a.OnTimeout {
	case "":
		a.OnTimeout = OnTimeoutCancel
	case OnTimeoutCancel:
	case OnTimeoutRemind:
		if a.Reminders < 1 && !c.has(field+".reminders") {
			c.add(v.at(field+".reminders", onTimeout), field+".reminders", "on_timeout: remind needs reminders (how many before cancelling)")
		}
	case OnTimeoutEscalate:
		if a.EscalateTo == "" {
			c.add(v.at(field+".escalate_to", onTimeout), field+".escalate_to", "on_timeout: escalate needs escalate_to, the role to ask next")
		}
	case OnTimeoutFallback:
		if a.Fallback == "" {
			c.add(v.at(field+".fallback", onTimeout), field+".fallback", "on_timeout: fallback needs fallback, a content step to publish instead")
		} else if _, ok := v.contents[a.Fallback]; !ok {
			c.add(v.at(field+".fallback", a.Pos), field+".fallback", "%q is not a content step defined before this step", a.Fallback)
		}
	default:
		c.add(onTimeout, field+".on_timeout", "must be one of cancel, remind, escalate, fallback, got %q", a.OnTimeout)
	}
	if a.OnTimeout != OnTimeoutCancel && a.Within == 0 && !c.has(field+".within") {
		c.add(v.at(field+".within", onTimeout), field+".within", "on_timeout %s needs a within deadline", a.OnTimeout)
	}
}

func (v *validator) publish(field string, pub *PublishStep) {
	c := v.c
	pub.Content = v.contentRef(field+".content", pub.Pos, pub.Content)
	if len(pub.Channels) == 0 {
		// The content's channels were checked on the content step.
		if cs := v.contents[pub.Content]; cs != nil {
			pub.Channels = cs.Channels
		}
	} else {
		v.channels(field+".channels", pub.Pos, pub.Channels)
		if cs := v.contents[pub.Content]; cs != nil {
			for i, ch := range pub.Channels {
				if !slices.Contains(cs.Channels, ch) {
					f := fmt.Sprintf("%s.channels[%d]", field, i)
					c.add(v.at(f, pub.Pos), f, "content %q is not drafted for %q (it is for %s)", pub.Content, ch, strings.Join(cs.Channels, ", "))
				}
			}
		}
	}
	if pub.At != "" && pub.After != 0 {
		c.add(v.second(field, pub.Pos, "at", "after"), field, "give at or after, not both")
	}
	if pub.At != "" {
		v.timeRef(field+".at", pub.Pos, pub.At)
	}
}

func (v *validator) wait(field string, w *WaitStep) {
	c := v.c
	if c.has(field+".for") || c.has(field+".until") || c.has(field+".rule") {
		return
	}
	n := 0
	for _, set := range []bool{w.For != 0, w.Until != "", !w.Rule.IsZero()} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		c.add(w.Pos, field, "wait needs exactly one of for, until, rule")
	case n > 1:
		c.add(v.second(field, w.Pos, "for", "until", "rule"), field, "wait needs exactly one of for, until, rule")
	}
	if w.For < 0 {
		c.add(v.at(field+".for", w.Pos), field+".for", "must be positive")
	}
	if w.Until != "" {
		v.timeRef(field+".until", w.Pos, w.Until)
	}
	if !w.Rule.IsZero() {
		compileExpr(c, field+".rule", w.Rule, rules.Campaign)
		rule := v.at(field+".rule", w.Pos)
		if w.Every <= 0 && !c.has(field+".every") {
			c.add(v.at(field+".every", rule), field+".every", "a rule wait needs every: how often to check it")
		}
		if w.Timeout <= 0 && !c.has(field+".timeout") {
			c.add(v.at(field+".timeout", rule), field+".timeout", "a rule wait needs a timeout")
		}
	} else if w.Every != 0 || w.Timeout != 0 {
		c.add(v.second(field, w.Pos, "every", "timeout"), field, "every and timeout only go with rule")
	}
}

func (v *validator) timeRef(field string, pos Pos, s string) {
	pos = v.at(field, pos)
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
		c.add(v.keyAt("steps", keyPos(root, "steps")), "steps", "Crisis playbooks have no steps: their procedure is detect, severity, escalation, freeze, statement, resolve")
	}
	if p.Goals != nil {
		c.add(v.keyAt("goals", keyPos(root, "goals")), "goals", "only Campaign playbooks have goals")
	}
	if p.Tags != nil && !c.has("tags") {
		c.add(v.keyAt("tags", keyPos(root, "tags")), "tags", "only Campaign playbooks have tags; a crisis names the tags it holds in freeze.tags")
	}
	if p.Detect.IsZero() && !c.has("detect") {
		c.add(keyPos(root, "detect"), "detect", "a crisis playbook needs a detect rule")
	}
	compileExpr(c, "detect", p.Detect, rules.Crisis)
	if len(p.Severity) == 0 && !c.has("severity") {
		c.add(keyPos(root, "severity"), "severity", "a crisis playbook needs severity rules")
	}
	for i, r := range p.Severity {
		f := fmt.Sprintf("severity[%d]", i)
		if c.has(f) {
			continue
		}
		if !slices.Contains(SeverityLevels, r.Level) && !c.has(f+".level") {
			c.add(v.at(f+".level", r.Pos), f+".level", "must be one of %s, got %q", strings.Join(SeverityLevels, ", "), r.Level)
		}
		if r.When.IsZero() && !c.has(f+".when") {
			c.add(v.at(f+".when", r.Pos), f+".when", "severity rule needs when")
		}
		compileExpr(c, f+".when", r.When, rules.Crisis)
	}
	compileExpr(c, "deescalate", p.Deescalate, rules.Crisis)
	if len(p.Escalation) == 0 && !c.has("escalation") {
		c.add(keyPos(root, "escalation"), "escalation", "a crisis playbook needs at least one escalation tier")
	}
	for i, t := range p.Escalation {
		f := fmt.Sprintf("escalation[%d]", i)
		if c.has(f) {
			continue
		}
		if len(t.Notify) == 0 && !c.has(f+".notify") {
			c.add(v.at(f+".notify", t.Pos), f+".notify", "a tier needs targets to notify")
		}
		v.targets(f+".notify", t.Pos, t.Notify)
		if t.AckWithin <= 0 && !c.has(f+".ack_within") {
			c.add(v.at(f+".ack_within", t.Pos), f+".ack_within", "a tier needs ack_within, the time to acknowledge")
		}
		if t.Repeat != 0 && i != len(p.Escalation)-1 {
			c.add(v.keyAt(f+".repeat", t.Pos), f+".repeat", "only the last tier repeats")
		}
	}
	if fz := p.Freeze; fz != nil && !c.has("freeze") {
		compileExpr(c, "freeze.when", fz.When, rules.Freeze)
		scope := v.at("freeze.scope", fz.Pos)
		switch fz.Scope {
		case "", FreezeBrand:
			fz.Scope = FreezeBrand
		case FreezeChannels:
			if len(fz.Channels) == 0 && !c.has("freeze.channels") {
				c.add(v.at("freeze.channels", scope), "freeze.channels", "scope channels needs the channels")
			}
		case FreezeTags:
			if len(fz.Tags) == 0 && !c.has("freeze.tags") {
				c.add(v.at("freeze.tags", scope), "freeze.tags", "scope tags needs the tags")
			}
		case FreezeMarkets:
			if len(fz.Markets) == 0 && !c.has("freeze.markets") {
				c.add(v.at("freeze.markets", scope), "freeze.markets", "scope markets needs the markets")
			}
		default:
			c.add(scope, "freeze.scope", "must be one of %s, got %q", strings.Join(FreezeScopes, ", "), fz.Scope)
		}
		v.channels("freeze.channels", fz.Pos, fz.Channels)
		v.labels("freeze.tags", fz.Pos, fz.Tags, "tags")
		v.labels("freeze.markets", fz.Pos, fz.Markets, "markets")
		switch fz.OnUnfreeze {
		case "":
			fz.OnUnfreeze = UnfreezeReschedule
		case UnfreezeDrop, UnfreezeReschedule:
		default:
			c.add(v.at("freeze.on_unfreeze", fz.Pos), "freeze.on_unfreeze", "must be drop or reschedule, got %q", fz.OnUnfreeze)
		}
	}
	if st := p.Statement; st != nil && !c.has("statement") {
		if strings.TrimSpace(st.Template) == "" && !c.has("statement.template") {
			c.add(v.at("statement.template", st.Pos), "statement.template", "the statement needs a template")
		}
		if _, err := parseTemplate(st.Template); err != nil {
			c.add(v.at("statement.template", st.Pos), "statement.template", "template: %v", err)
		}
		if len(st.Channels) == 0 && !c.has("statement.channels") {
			c.add(v.at("statement.channels", st.Pos), "statement.channels", "the statement needs channels")
		}
		v.channels("statement.channels", st.Pos, st.Channels)
		if a := st.Approval; a != nil {
			if a.Content != "" || a.Fallback != "" {
				c.add(v.second("statement.approval", a.Pos, "content", "fallback"), "statement.approval", "the statement's approval takes role, within and on_timeout; the fallback text goes in statement.fallback")
			}
			onTimeout := v.at("statement.approval.on_timeout", a.Pos)
			switch a.OnTimeout {
			case "":
				a.OnTimeout = OnTimeoutEscalate
			case OnTimeoutEscalate, OnTimeoutCancel:
			case OnTimeoutFallback:
				if st.Fallback == "" {
					c.add(v.at("statement.fallback", onTimeout), "statement.fallback", "on_timeout: fallback needs a pre-approved statement.fallback")
				}
			default:
				c.add(onTimeout, "statement.approval.on_timeout", "must be escalate, cancel or fallback, got %q", a.OnTimeout)
			}
		}
	}
	if r := p.Resolve; r == nil {
		if !c.has("resolve") {
			c.add(keyPos(root, "resolve"), "resolve", "a crisis playbook needs a resolve rule")
		}
	} else if !c.has("resolve") {
		if r.When.IsZero() && !c.has("resolve.when") {
			c.add(v.at("resolve.when", r.Pos), "resolve.when", "resolve needs when")
		}
		compileExpr(c, "resolve.when", r.When, rules.Crisis)
		if r.Hold < 0 {
			c.add(v.at("resolve.hold", r.Pos), "resolve.hold", "must not be negative")
		}
	}
}

func (v *validator) targets(field string, pos Pos, targets []string) {
	for i, t := range targets {
		kind, name, ok := strings.Cut(t, ":")
		if !ok || name == "" || !slices.Contains(NotifierKinds, kind) {
			f := fmt.Sprintf("%s[%d]", field, i)
			v.c.add(v.at(f, pos), f, "target %q must be KIND:NAME with KIND one of %s", t, strings.Join(NotifierKinds, ", "))
		}
	}
}

func parseTemplate(text string) (*template.Template, error) {
	return template.New("content").Option("missingkey=error").Parse(text)
}

// template parses a text/template and checks the parameters it uses are
// declared: rendering fails on a missing key, and a launch should not.
func (v *validator) template(field string, pos Pos, text string) {
	pos = v.at(field, pos)
	t, err := parseTemplate(text)
	if err != nil {
		v.c.add(pos, field, "template: %v", err)
		return
	}
	if t.Tree == nil {
		return
	}
	seen := map[string]bool{}
	templateParams(t.Tree.Root, true, func(name string) {
		if _, ok := v.p.Params[name]; !ok && !seen[name] {
			seen[name] = true
			v.c.add(pos, field, "template uses {{.%s}} but the playbook has no parameter %q", name, name)
		}
	})
}

// templateParams calls use for each parameter the template reads:
// {{.product}}, {{if .discount}}, {{printf "%s" .product}}, {{$.product}}.
// Inside the body of range and with the dot is something else, so top is
// false there and only $.name names a parameter.
func templateParams(n parse.Node, top bool, use func(string)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			templateParams(c, top, use)
		}
	case *parse.ActionNode:
		templateParams(n.Pipe, top, use)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			templateParams(c, top, use)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			templateParams(a, top, use)
		}
	case *parse.ChainNode:
		templateParams(n.Node, top, use)
	case *parse.FieldNode:
		if top {
			use(n.Ident[0])
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			use(n.Ident[1])
		}
	case *parse.IfNode:
		templateParams(n.Pipe, top, use)
		templateParams(n.List, top, use)
		templateParams(n.ElseList, top, use)
	case *parse.RangeNode:
		templateParams(n.Pipe, top, use)
		templateParams(n.List, false, use)
		templateParams(n.ElseList, top, use)
	case *parse.WithNode:
		templateParams(n.Pipe, top, use)
		templateParams(n.List, false, use)
		templateParams(n.ElseList, top, use)
	case *parse.TemplateNode:
		templateParams(n.Pipe, top, use)
	}
}

// labels checks a list of tags or markets: ids, each given once. They are
// matched exactly against what a launch gives, so "Promo" would never
// match anything.
func (v *validator) labels(field string, pos Pos, list []string, what string) {
	seen := map[string]bool{}
	for i, l := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !idPattern.MatchString(l):
			v.c.add(v.at(f, pos), f, "%s are 1-63 lower-case letters, digits, '-' or '_', got %q", what, l)
		case seen[l]:
			v.c.add(v.at(f, pos), f, "%q is given twice", l)
		}
		seen[l] = true
	}
}

func (v *validator) channels(field string, pos Pos, refs []string) {
	for i, r := range refs {
		if !idPattern.MatchString(r) {
			f := fmt.Sprintf("%s[%d]", field, i)
			v.c.add(v.at(f, pos), f, "%q is neither a platform (%s) nor a channel name", r, strings.Join(Platforms, ", "))
		}
	}
}

// at is where the value of field is written, or fallback when it is not:
// errors point at the offending value, not at the section around it.
func (v *validator) at(field string, fallback Pos) Pos {
	if _, n := written(v.root, field); n != nil {
		return nodePos(n)
	}
	return fallback
}

// keyAt is where the key of field is written, or fallback when it is not,
// for errors about a field as a whole (it should not be there, or is short).
func (v *validator) keyAt(field string, fallback Pos) Pos {
	if k, _ := written(v.root, field); k != nil {
		return nodePos(k)
	}
	return fallback
}

// second is where the second of mutually exclusive keys of section is
// written: the first one given is fine on its own.
func (v *validator) second(section string, fallback Pos, keys ...string) Pos {
	var found []Pos
	for _, k := range keys {
		if kn, _ := written(v.root, section+"."+k); kn != nil {
			found = append(found, nodePos(kn))
		}
	}
	if len(found) < 2 {
		return fallback
	}
	slices.SortFunc(found, func(a, b Pos) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return found[1]
}

// written finds the key and value written at a field path such as
// "steps[2].publish.channels[0]"; both are nil when the path is not written.
// Map keys may contain dots, so the longest key that fits is taken.
func written(root *yaml.Node, path string) (key, val *yaml.Node) {
	val = root
	for path != "" {
		for depth := 0; val != nil && val.Kind == yaml.AliasNode && depth < 100; depth++ {
			val = val.Alias
		}
		if val == nil {
			return nil, nil
		}
		if path[0] == '[' {
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return nil, nil
			}
			i, err := strconv.Atoi(path[1:end])
			if err != nil || val.Kind != yaml.SequenceNode || i < 0 || i >= len(val.Content) {
				return nil, nil
			}
			key, val, path = nil, val.Content[i], path[end+1:]
			continue
		}
		path = strings.TrimPrefix(path, ".")
		if val.Kind != yaml.MappingNode {
			return nil, nil
		}
		best := -1
		for j := 0; j+1 < len(val.Content); j += 2 {
			k := val.Content[j].Value
			fits := strings.HasPrefix(path, k) && (len(path) == len(k) || path[len(k)] == '.' || path[len(k)] == '[')
			if fits && (best < 0 || len(k) > len(val.Content[best].Value)) {
				best = j
			}
		}
		if best < 0 {
			return nil, nil
		}
		key, val, path = val.Content[best], val.Content[best+1], path[len(val.Content[best].Value):]
	}
	return key, val
}
