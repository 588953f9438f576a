package listening

import (
	"time"

	"github.com/cmo-dev/cmo/rules"
)

// Detect evaluates a crisis playbook's detect rule on the windows of its
// length. A rule that reads window.topic runs on every topic's window, one
// that reads window.competitor on every competitor's, any other on the
// brand's own window. Of the windows where it holds, the busiest is the
// evidence.
func Detect(detect string, length time.Duration, windows []ScopedWindow) (ScopedWindow, bool, error) {
	p, err := rules.Cached(detect, rules.Crisis)
	if err != nil {
		return ScopedWindow{}, false, err
	}
	reads := p.Reads()
	var best ScopedWindow
	found := false
	for _, w := range windows {
		if w.Length != length || !coversScope(reads, w.Scope) {
			continue
		}
		ok, err := p.EvalBool(rules.WindowEnv{Window: w.Window})
		if err != nil {
			return ScopedWindow{}, false, err
		}
		if ok && (!found || w.Window.Mentions > best.Window.Mentions) {
			best, found = w, true
		}
	}
	return best, found, nil
}

// coversScope says whether a rule with these reads is evaluated on scope.
func coversScope(r rules.WindowReads, scope string) bool {
	topic, competitor := ScopeName(scope)
	switch {
	case topic != "":
		return r.Topic
	case competitor != "":
		return r.Competitor
	}
	return !r.Topic && !r.Competitor
}

// Find returns the window of one scope and length; a scope with no
// mentions in the window has an empty one.
func Find(windows []ScopedWindow, scope string, length time.Duration) rules.Window {
	for _, w := range windows {
		if w.Scope == scope && w.Length == length {
			return w.Window
		}
	}
	w := rules.Window{Minutes: length.Minutes()}
	w.Topic, w.Competitor = ScopeName(scope)
	return w
}
