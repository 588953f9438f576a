package sentiment

import "math"

// Constants of the VADER model (Hutto & Gilbert, 2014), which derived them
// empirically from human ratings of tweets.
const (
	// negScalar flips a negated term and dampens it: "not good" is less
	// negative than "bad" is.
	negScalar = -0.74
	// capsBoost is added to the size of a term written in capitals when
	// the rest of the text is not.
	capsBoost = 0.733
	// exclaimBoost is added per exclamation mark, up to maxExclaims.
	exclaimBoost = 0.292
	maxExclaims  = 4
	// questionBoost is added per question mark when there are two or more
	// ("where is my refund???"), up to maxQuestions.
	questionBoost = 0.18
	maxQuestions  = 3
	// window is how many words back a negator or booster reaches.
	window = 3
	// alpha normalizes a sum of valences into (-1, 1): x/sqrt(x²+alpha).
	alpha = 15
)

// unit is a token, or a phrase of several, once looked up.
type unit struct {
	kind   kind
	value  float64
	caps   bool
	elided bool
}

// score rates the tokens in s with this lexicon.
func (lx *lexicon) score(s *scratch) float64 {
	units := lx.units(s)
	s.units = units
	mixedCaps := s.capsWords > 0 && s.capsWords < s.words

	// One pass forward: a negator reaches the terms up to window words
	// after it; a booster multiplies the first term in that reach (boosters
	// in a row compound: "very very bad"). Breaks and contrast words end
	// both reaches, since they end the clause.
	const far = math.MinInt32
	pos, negAt, boostAt := 0, far, far
	boost := 1.0
	contrastAt, contrastWeight := -1, 1.0
	for k := range units {
		u := &units[k]
		if u.kind == kindBreak {
			negAt, boostAt, boost = far, far, 1
			continue
		}
		if !u.elided {
			pos++
		}
		switch u.kind {
		case kindNegator:
			negAt = pos
		case kindBooster:
			if pos-boostAt <= window {
				boost *= u.value
			} else {
				boost = u.value
			}
			boostAt = pos
		case kindContrast:
			contrastAt, contrastWeight = k, u.value
			negAt, boostAt, boost = far, far, 1
		case kindTerm:
			v := u.value
			if v == 0 {
				break
			}
			if mixedCaps && u.caps {
				v += math.Copysign(capsBoost, v)
			}
			if pos-boostAt <= window {
				v *= boost
				boostAt, boost = far, 1
			}
			if pos-negAt <= window {
				v *= negScalar
			}
			u.value = v
		}
	}

	// "The food was good but the service was awful": the clause after the
	// last contrast word counts for weight, the one before for 2-weight
	// (1.5 and 0.5 in VADER).
	sum := 0.0
	for k, u := range units {
		if u.kind != kindTerm {
			continue
		}
		v := u.value
		switch {
		case contrastAt < 0:
		case k < contrastAt:
			v *= 2 - contrastWeight
		default:
			v *= contrastWeight
		}
		sum += v
	}
	if sum != 0 {
		amp := float64(min(s.exclaims, maxExclaims)) * exclaimBoost
		if s.questions > 1 {
			amp += float64(min(s.questions, maxQuestions)) * questionBoost
		}
		sum += math.Copysign(amp, sum)
	}
	return normalize(sum)
}

// units looks every token up, longest phrase first.
func (lx *lexicon) units(s *scratch) []unit {
	units := s.units[:0]
	toks := s.toks
	for i := 0; i < len(toks); {
		t := toks[i]
		if t.kind == tokBreak {
			units = append(units, unit{kind: kindBreak})
			i++
			continue
		}
		e := lx.entries[string(s.buf[t.start:t.end])]
		if e != nil {
			if n, r, caps := e.match(s, i); n > 0 {
				units = append(units, unit{kind: r.kind, value: r.value, caps: caps})
				i += n
				continue
			}
		}
		r, ok := e.alone()
		if !ok {
			r, ok = lx.fallback(s, t)
		}
		if ok {
			units = append(units, unit{kind: r.kind, value: r.value, caps: t.caps, elided: t.elided})
			i++
			continue
		}
		u := unit{kind: kindPlain, elided: t.elided}
		if hasNegatedSuffix(s.buf[t.start:t.end]) {
			// Any n't word negates, listed or not (oughtn't, needn't).
			u.kind = kindNegator
		}
		units = append(units, u)
		i++
	}
	return units
}

// alone returns the rule of the token on its own, if e has one.
func (e *entry) alone() (rule, bool) {
	if e == nil || !e.single {
		return rule{}, false
	}
	return e.rule, true
}

// match returns the length in tokens of the longest phrase of e that the
// text has at token i, its rule, and whether all its words are in capitals.
func (e *entry) match(s *scratch, i int) (int, rule, bool) {
	toks := s.toks
next:
	for _, p := range e.multi {
		if i+len(p.rest) >= len(toks) {
			continue
		}
		caps := toks[i].caps
		for k, w := range p.rest {
			t := toks[i+1+k]
			if string(s.buf[t.start:t.end]) != w {
				continue next
			}
			caps = caps && t.caps
		}
		return 1 + len(p.rest), p.rule, caps
	}
	return 0, rule{}, false
}

// normalize maps a sum of valences into [-1, 1].
func normalize(x float64) float64 {
	if math.IsInf(x*x, 0) {
		return math.Copysign(1, x) // x²+alpha would overflow
	}
	n := x / math.Sqrt(x*x+alpha)
	switch {
	case math.IsNaN(n):
		return 0
	case n < -1:
		return -1
	case n > 1:
		return 1
	}
	return n
}
