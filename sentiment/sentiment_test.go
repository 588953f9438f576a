package sentiment

import (
	"math"
	"strings"
	"sync"
	"testing"
)

// labelCase is a text and the label a reader would give it.
type labelCase struct {
	text  string
	label string
}

var englishCases = []labelCase{
	// Complaints
	{"still waiting for my refund after 3 weeks", Negative},
	{"Worst customer service ever. Never again.", Negative},
	{"My flight was cancelled and nobody answers the phone", Negative},
	{"@SkyHighAir lost my luggage AGAIN 😡", Negative},
	{"charged twice for the same order, I want my money back", Negative},
	{"The app keeps crashing since the update", Negative},
	{"is the site down? can't log in", Negative},
	{"This is a scam, stay away", Negative},
	{"Package never arrived and no response from support", Negative},
	{"I'm so disappointed with the quality", Negative},
	{"delayed for hours with no explanation", Negative},
	{"Been on hold for 2 hours. Unacceptable!!!", Negative},
	{"The food was good but the service was terrible", Negative},
	{"😡😡", Negative},
	// Negation
	{"Not good at all.", Negative},
	{"I don't like the new design", Negative},
	{"not bad", Positive},
	{"The new app isn't bad, actually", Positive},
	{"no problems at all, works perfectly", Positive},
	// Praise, intensifiers, emoji
	{"Great service, thank you so much!", Positive},
	{"Love the new app ❤️", Positive},
	{"😍", Positive},
	{"The staff were incredibly helpful and kind", Positive},
	{"Issue resolved in 5 minutes, thanks!", Positive},
	{"Best purchase this year 👍🏽", Positive},
	{"Delivery was late but support sorted it quickly, great job", Positive},
	// Neutral
	{"the store opens at 9", Neutral},
	{"Our new store opens on Monday at 10am", Neutral},
	{"What time does the flight to Madrid leave?", Neutral},
	{"I ordered the blue one", Neutral},
	{"Details at https://example.com/great-awesome-deal", Neutral},
	{"@GoodVibesCo see you tomorrow", Neutral},
}

var spanishCases = []labelCase{
	// Quejas
	{"vuelo cancelado y sin respuesta", Negative},
	{"Llevo dos semanas esperando el reembolso", Negative},
	{"Me han cobrado dos veces y nadie me contesta", Negative},
	{"Pésima atención al cliente, no lo recomiendo", Negative},
	{"Han perdido mi maleta, qué vergüenza", Negative},
	{"La app no funciona desde ayer", Negative},
	{"Otra caída del servicio, ya basta", Negative},
	{"Esto es una estafa", Negative},
	{"el pedido todavía no ha llegado", Negative},
	{"Estoy harto de los retrasos", Negative},
	{"El servicio es malísimo", Negative},
	{"la comida estaba buena pero la atención fue horrible", Negative},
	{"😡😡 sin luz otra vez", Negative},
	{"servicio lentísimo y carísimo", Negative},
	{"PESIMA ATENCION", Negative},
	// Negación
	{"No me gustó nada", Negative},
	{"no es nada recomendable", Negative},
	{"no está mal", Positive},
	{"Sin problemas, llegó a tiempo", Positive},
	// Elogios
	{"¡Muchas gracias por la rápida respuesta!", Positive},
	{"Me encanta la nueva tienda 😍", Positive},
	{"Todo perfecto, muy amables", Positive},
	{"Excelente servicio, lo recomiendo", Positive},
	{"El personal fue amabilísimo", Positive},
	{"Buenísimo, repetiremos", Positive},
	{"El vuelo se retrasó un poco pero la tripulación fue encantadora", Positive},
	// Neutros
	{"la tienda abre a las 9", Neutral},
	{"¿A qué hora sale el vuelo a Barcelona?", Neutral},
	{"Mañana publicamos el horario de verano", Neutral},
	{"He pedido una camiseta azul", Neutral},
}

var catalanCases = []labelCase{
	// Queixes
	{"el paquet encara no ha arribat", Negative},
	{"Vol cancel·lat i ningú respon", Negative},
	{"M'han cobrat dues vegades", Negative},
	{"L'atenció al client és pèssima", Negative},
	{"Encara espero el reemborsament", Negative},
	{"Han perdut la meva maleta, quina vergonya", Negative},
	{"L'app no funciona des d'ahir", Negative},
	{"Una altra caiguda del servei, estem farts", Negative},
	{"És una estafa", Negative},
	{"Servei lentíssim i caríssim", Negative},
	{"El menjar era bo però el servei va ser horrible", Negative},
	{"😡 sense llum un altre cop", Negative},
	{"Quin desastre de servei", Negative},
	{"Fa dues hores que espero i ningú m'atén", Negative},
	{"cancel.lat sense avís", Negative},
	// Negació
	{"No m'ha agradat gens", Negative},
	{"Molt malament, no ho recomano", Negative},
	{"no està malament", Positive},
	{"Sense problemes, va arribar a temps", Positive},
	// Elogis
	{"Moltes gràcies per la resposta tan ràpida!", Positive},
	{"M'encanta la nova botiga 😍", Positive},
	{"Tot perfecte, molt amables", Positive},
	{"Servei excel·lent, el recomano", Positive},
	{"El personal ha estat amabilíssim", Positive},
	{"Boníssim!", Positive},
	{"El vol va anar una mica tard però la tripulació va ser encantadora", Positive},
	// Neutres
	{"la botiga obre a les 9", Neutral},
	{"A quina hora surt el vol cap a Madrid?", Neutral},
	{"Demà publiquem l'horari d'estiu", Neutral},
	{"He demanat una samarreta blava per a la meva filla", Neutral},
}

func testLabels(t *testing.T, lang string, cases []labelCase) {
	t.Helper()
	s := New()
	for _, c := range cases {
		// Scored twice: with the language the platform reports, and
		// without, which goes through detection and must agree.
		for _, hint := range []string{lang, ""} {
			r := s.Score(c.text, hint)
			if r.Label != c.label || r.Lang != lang {
				t.Errorf("Score(%q, %q) = %+.3f %s [%s], want %s [%s]", c.text, hint, r.Score, r.Label, r.Lang, c.label, lang)
			}
		}
	}
}

func TestLabelsEnglish(t *testing.T) { testLabels(t, "en", englishCases) }
func TestLabelsSpanish(t *testing.T) { testLabels(t, "es", spanishCases) }
func TestLabelsCatalan(t *testing.T) { testLabels(t, "ca", catalanCases) }

// score is a shorthand for tests that compare scores.
func score(text, lang string) float64 { return New().Score(text, lang).Score }

func TestNegationFlipsAndDampens(t *testing.T) {
	for _, c := range []struct{ plain, negated, lang string }{
		{"bad", "not bad", "en"},
		{"good", "not good", "en"},
		{"está mal", "no está mal", "es"},
		{"és bo", "no és bo", "ca"},
		{"està malament", "no està malament", "ca"},
		{"m'ha agradat", "no m'ha agradat", "ca"},
	} {
		p, n := score(c.plain, c.lang), score(c.negated, c.lang)
		if p == 0 || math.Signbit(p) == math.Signbit(n) || math.Abs(n) >= math.Abs(p) {
			t.Errorf("%q = %+.3f, %q = %+.3f: negation should flip the sign and dampen", c.plain, p, c.negated, n)
		}
	}
}

func TestNegationWindowEndsAtClause(t *testing.T) {
	// "No." answers something else: the praise after the full stop stands.
	if got := score("No. The staff were great", "en"); got <= 0 {
		t.Errorf("negation crossed a full stop: %+.3f", got)
	}
	// Four words away is out of reach.
	if got := score("no sabía que el hotel era genial", "es"); got <= 0 {
		t.Errorf("negation reached past its window: %+.3f", got)
	}
}

func TestBoosters(t *testing.T) {
	for _, c := range []struct{ base, more, less, lang string }{
		{"the service was bad", "the service was very bad", "the service was slightly bad", "en"},
		{"el servicio es malo", "el servicio es muy malo", "el servicio es un poco malo", "es"},
		{"el servei és dolent", "el servei és molt dolent", "el servei és una mica dolent", "ca"},
	} {
		b, m, l := score(c.base, c.lang), score(c.more, c.lang), score(c.less, c.lang)
		if !(m < b && b < l && l < 0) {
			t.Errorf("%s: more %+.3f, base %+.3f, less %+.3f: want more < base < less < 0", c.lang, m, b, l)
		}
	}
	if sup, base := score("el servicio es malísimo", "es"), score("el servicio es malo", "es"); sup >= base {
		t.Errorf("superlative %+.3f not below base %+.3f", sup, base)
	}
}

func TestCapsAndExclamations(t *testing.T) {
	base := score("the service was bad", "en")
	if caps := score("the service was BAD", "en"); caps >= base {
		t.Errorf("a word in capitals should weigh more: %+.3f vs %+.3f", caps, base)
	}
	// All in capitals is shouting everything: no word stands out.
	if all := score("THE SERVICE WAS BAD", "en"); all != base {
		t.Errorf("all-caps text: %+.3f, want %+.3f", all, base)
	}
	if bang := score("the service was bad!!!", "en"); bang >= base {
		t.Errorf("exclamation marks should amplify: %+.3f vs %+.3f", bang, base)
	}
}

func TestContrastWeighsTheClauseAfter(t *testing.T) {
	for _, c := range []struct{ text, lang string }{
		{"the room was lovely but the staff were rude", "en"},
		{"la habitación era bonita pero el personal fue maleducado", "es"},
		{"l'habitació era bonica però el personal va ser maleducat", "ca"},
	} {
		if got := score(c.text, c.lang); got >= 0 {
			t.Errorf("%q = %+.3f: the clause after the contrast should win", c.text, got)
		}
	}
}

func TestPhrasesMatchAsPhrases(t *testing.T) {
	// "lost" and "luggage" alone would score mildly; the phrase is strong.
	if p, w := score("they lost my luggage", "en"), score("lost", "en"); p >= w {
		t.Errorf("phrase %+.3f not stronger than its word %+.3f", p, w)
	}
	// The words of a phrase in another order are not the phrase.
	if got := score("dos veces cobrado", "es"); got <= score("cobrado dos veces", "es") {
		t.Errorf("phrase matched out of order: %+.3f", got)
	}
	// A neutral phrase shields its words: customer care is not care.
	if got := score("customer care", "en"); got != 0 {
		t.Errorf("customer care = %+.3f, want 0", got)
	}
}

func TestAccentsAndSpellingsFold(t *testing.T) {
	for _, pair := range [][2]string{
		{"atención pésima", "atencion pesima"},
		{"ATENCIÓN PÉSIMA", "atención pésima"},
		{"vol cancel·lat", "vol cancellat"},
		{"vol cancel·lat", "vol cancel.lat"},
		{"vol cancel·lat", "vol cancel•lat"},
		{"don't like it", "don’t like it"},
		{"sooo goood", "so good"},
		{"atención pésima", "atencio\u0301n pe\u0301sima"}, // decomposed accents
	} {
		a, b := New().Score(pair[0], ""), New().Score(pair[1], "")
		if a.Score != b.Score || a.Lang != b.Lang {
			t.Errorf("%q = %+.3f [%s] but %q = %+.3f [%s]", pair[0], a.Score, a.Lang, pair[1], b.Score, b.Lang)
		}
	}
}

func TestEmoji(t *testing.T) {
	for _, c := range []labelCase{
		{"😡😡", Negative},
		{"😍", Positive},
		{"👍🏿", Positive},   // skin tone
		{"❤️", Positive},   // variation selector
		{"🤦‍♀️", Negative}, // zero-width joiner sequence
		{":(", Negative},
		{":-)", Positive},
		{"<3", Positive},
		{"🛫", Neutral},
	} {
		for _, lang := range []string{"en", "es", "ca"} {
			if got := New().Score(c.text, lang).Label; got != c.label {
				t.Errorf("Score(%q, %q) = %s, want %s", c.text, lang, got, c.label)
			}
		}
	}
}

func TestLanguageTags(t *testing.T) {
	s := New()
	for tag, want := range map[string]string{
		"en": "en", "en-GB": "en", "EN_us": "en", "eng": "en",
		"es": "es", "es-ES": "es", "es-419": "es", "spa": "es",
		"ca": "ca", "ca-ES": "ca", "ca-ES-valencia": "ca", "cat": "ca",
	} {
		// Catalan text: only the tag can make it Spanish or English.
		if got := s.Score("el servei és dolent", tag).Lang; got != want {
			t.Errorf("tag %q used lexicon %q, want %q", tag, got, want)
		}
	}
	for _, tag := range []string{"", "fr", "und", "c", "cata", "-", "ca1"} {
		if got := s.Score("el servei és dolent", tag).Lang; got != "ca" {
			t.Errorf("tag %q: lexicon %q, want detection to pick ca", tag, got)
		}
	}
}

func TestLabelFor(t *testing.T) {
	for _, c := range []struct {
		score float64
		want  string
	}{
		{-1, Negative}, {-Threshold, Negative}, {-0.0499, Neutral}, {0, Neutral},
		{0.0499, Neutral}, {Threshold, Positive}, {1, Positive}, {math.NaN(), Neutral},
	} {
		if got := LabelFor(c.score); got != c.want {
			t.Errorf("LabelFor(%v) = %s, want %s", c.score, got, c.want)
		}
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	s := New()
	texts := benchCorpus()
	s.Score(texts[0], "") // warm the pool
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		s.Score(texts[i%len(texts)], "")
		i++
	})
	if allocs > 0 {
		t.Errorf("Score allocates %.1f times per call", allocs)
	}
}

func TestConcurrentScoring(t *testing.T) {
	s := New()
	texts := benchCorpus()
	want := make([]Result, len(texts))
	for i, text := range texts {
		want[i] = s.Score(text, "")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, text := range texts {
				if got := s.Score(text, ""); got != want[i] {
					t.Errorf("concurrent Score(%q) = %+v, want %+v", text, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

func TestLongText(t *testing.T) {
	long := strings.Repeat("terrible awful service, worst ever!!! ", 5000)
	r := New().Score(long, "en")
	if r.Score < -1 || r.Score > -0.99 {
		t.Errorf("long negative text scored %v", r.Score)
	}
}

// FuzzScore checks that any text, in any declared language, gets a score in
// [-1, 1] with the label that score implies and one of the three lexicons.
// Its seeds run with every go test.
func FuzzScore(f *testing.F) {
	for _, cases := range [][]labelCase{englishCases, spanishCases, catalanCases} {
		for _, c := range cases {
			f.Add(c.text, "")
		}
	}
	for _, seed := range []string{
		"", " ", "!!!!!!!!", "????", "'", "l'", "n't", "l·", "·l", "l.l", "@", "#", "http://",
		"\xff\xfe", "\u200d", "🏽", "️", strings.Repeat("very ", 100) + "bad",
		strings.Repeat("not ", 50) + "good", strings.Repeat("😡", 1000), "A" + strings.Repeat("a", 200),
	} {
		f.Add(seed, "en")
		f.Add(seed, "")
	}
	s := New()
	f.Fuzz(func(t *testing.T, text, lang string) {
		r := s.Score(text, lang)
		if math.IsNaN(r.Score) || r.Score < -1 || r.Score > 1 {
			t.Fatalf("Score(%q, %q) = %v, outside [-1, 1]", text, lang, r.Score)
		}
		if r.Label != LabelFor(r.Score) {
			t.Fatalf("Score(%q, %q): label %s for score %v", text, lang, r.Label, r.Score)
		}
		if r.Lang != "ca" && r.Lang != "es" && r.Lang != "en" {
			t.Fatalf("Score(%q, %q): lexicon %q", text, lang, r.Lang)
		}
	})
}
