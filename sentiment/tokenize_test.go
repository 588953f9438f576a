package sentiment

import (
	"strings"
	"testing"
)

// tokens renders the tokens of text: words folded, elided ones marked with
// a leading +, symbols as written, breaks as |.
func tokens(text string) string {
	t, err := loaded()
	if err != nil {
		panic(err)
	}
	sc := new(scratch)
	sc.tokenize(text, t.emoticons, true)
	var out []string
	for _, tk := range sc.toks {
		switch {
		case tk.kind == tokBreak:
			out = append(out, "|")
		case tk.elided:
			out = append(out, "+"+string(sc.buf[tk.start:tk.end]))
		default:
			out = append(out, string(sc.buf[tk.start:tk.end]))
		}
	}
	return strings.Join(out, " ")
}

func TestTokenize(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"Atención PÉSIMA", "atencion pesima"},
		{"año, Barça", "año | barça"},
		{"l'atenció d'en Joan", "+l' atencio +d' en joan"},
		{"L’home s'ha queixat", "+l' home +s' ha queixat"},
		{"porta'ns-ho", "porta +'ns ho"},
		{"I don't know, it's fine", "i don't know | it +'s fine"},
		{"can't", "can't"},
		{"cancel·lat col·lapse cancel.lat cancel•lat", "cancellat collapse cancellat cancellat"},
		{"still. late", "still | late"},
		{"sooooo goooood", "soo good"},
		{"1000 €", "1000"},
		{"@BestFlights thanks #fail", "thanks fail"},
		{"see https://x.example/great and www.good.example now", "see and now"},
		{"great:) :-( <3", "great | :-( <3"},
		{":) !!! :D!", ":) | :d"},
		{"👍🏽❤️🤦‍♀️", "👍 ❤ 🤦 ♀"},
		{"self-service well-known", "self service well known"},
		{"line one\nline two", "line one | line two"},
		{"¿Qué?¡Sí!", "que | si |"},
	} {
		if got := tokens(c.text); got != c.want {
			t.Errorf("tokens(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}
