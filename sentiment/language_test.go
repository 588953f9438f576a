package sentiment

import "testing"

func TestDetectLanguage(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		// Letters and spellings of one language only
		{"col·laboració", "ca"},
		{"Barça", "ca"},
		{"l'endemà", "ca"},
		{"porta'ns-ho", "ca"},
		{"España", "es"},
		{"¿Qué tal?", "es"},
		{"atención", "es"},
		{"atenció", "ca"},
		{"don't", "en"},
		{"lentíssim", "ca"},
		{"lentísimo", "es"},
		// Stopwords and vocabulary
		{"the service was slow", "en"},
		{"el servicio fue lento", "es"},
		{"el servei va ser lent", "ca"},
		{"I want to change my order", "en"},
		{"quiero cambiar mi pedido", "es"},
		{"vull canviar la meva comanda", "ca"},
		{"and the app is down again", "en"},
		{"y la app está caída otra vez", "es"},
		{"i l'app torna a estar caiguda", "ca"},
		{"PESIMA ATENCION", "es"},
		{"encara no ha arribat", "ca"},
		{"todavía no ha llegado", "es"},
		{"still not here", "en"},
		{"molt bé, gràcies", "ca"},
		{"muy bien, gracias", "es"},
		{"very good, thanks", "en"},
		// Accents typed as combining marks
		{"Espan\u0303a", "es"},
		{"ha estat molt ra\u0300pid", "ca"},
		// Nothing to go on: English
		{"", "en"},
		{"12345", "en"},
		{"😍😍", "en"},
		{"https://example.com/tienda/pedido", "en"},
		{"@botiga_online", "en"},
	} {
		if got := DetectLanguage(c.text); got != c.want {
			t.Errorf("DetectLanguage(%q) = %s, want %s", c.text, got, c.want)
		}
	}
}

func TestDetectLanguageDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	DetectLanguage("warm the pool")
	allocs := testing.AllocsPerRun(100, func() {
		DetectLanguage("L'atenció al client és pèssima, encara espero")
	})
	if allocs > 0 {
		t.Errorf("DetectLanguage allocates %.1f times per call", allocs)
	}
}
