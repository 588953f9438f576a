package listening

import (
	"sync"

	"github.com/cmo-dev/cmo/sentiment"
)

// Lexicon is the Scorer the API and backtests use: the sentiment
// package's lexicons for Catalan, Spanish and English.
var Lexicon = sync.OnceValue(func() Scorer {
	s := sentiment.New()
	return func(text, lang string) (float64, string, string) {
		r := s.Score(text, lang)
		return r.Score, r.Label, r.Lang
	}
})
