package contentcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	loadOnce sync.Once
	loaded   *Checker
	loadErr  error
)

// withDictionaries returns a Checker with the Catalan, Spanish and English
// dictionaries loaded, shared by the tests since loading takes seconds.
// Without the dictionaries it skips on a developer's machine but fails in
// CI, where a skip would hide that spelling went unchecked.
func withDictionaries(tb testing.TB) *Checker {
	tb.Helper()
	loadOnce.Do(func() {
		loaded = New(DefaultDictDir)
		loadErr = loaded.Load("ca", "es", "en")
	})
	if loadErr != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("spelling dictionaries: %v", loadErr)
		}
		tb.Skipf("spelling dictionaries missing, run scripts/ensure-dictionaries.sh: %v", loadErr)
	}
	return loaded
}

func spelling(t *testing.T, text string, r Rules) []Finding {
	t.Helper()
	fs, err := withDictionaries(t).Check(text, r)
	require.NoError(t, err)
	for _, f := range fs {
		require.Equal(t, RuleSpelling, f.Rule, f.Message)
		require.Equal(t, f.Word, text[f.Offset:f.Offset+len(f.Word)], "the offset points at the word")
	}
	return fs
}

func words(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Word)
	}
	return out
}

func TestSpellingCatalan(t *testing.T) {
	ca := Rules{Languages: []string{"ca"}}
	require.Empty(t, spelling(t, "L'àvia ens ha portat una col·lecció de fotos antigues. Col·lecció nova, l’àvia i l·lusió? No: il·lusió!", Rules{
		Languages: []string{"ca"}, AcceptWords: []string{"l·lusió"},
	}))
	require.Empty(t, spelling(t, "Dóna-li la carta i fes-ho ara, abans que se'n vagi a Andorra.", ca))

	text := "Aquesta setmana presentem la nova colecció de Nadal. La colecció és preciosa."
	fs := spelling(t, text, ca)
	require.Len(t, fs, 1, "a misspelt word is reported once")
	require.Equal(t, Finding{
		Rule: RuleSpelling, Severity: Warn, Word: "colecció", Offset: strings.Index(text, "colecció"),
		Message: `"colecció" is not Catalan (suggestions: col·lecció)`,
	}, fs[0])

	// The slips the suggestions look for first.
	for typo, want := range map[string]string{
		"col.lecció": "col·lecció", // a dot for the middle dot
		"collecció":  "col·lecció",
		"noba":       "nova", // b for v
		"d'ivern":    "d'hivern",
		"enporta't":  "emporta't",
		"disabte":    "dissabte",
		"Aquets":     "Aquest",
		"barcelona":  "Barcelona",
		"publicacio": "publicació",
	} {
		fs := spelling(t, "Ara "+typo, ca)
		require.Len(t, fs, 1, typo)
		require.Contains(t, fs[0].Message, want, typo)
	}
}

func TestSpellingSpanish(t *testing.T) {
	es := Rules{Languages: []string{"es"}}
	require.Empty(t, spelling(t, "¿Qué tal? El niño pequeño irá mañana a la montaña con su familia española. ¡Qué pingüinos!", Rules{
		Languages: []string{"es"}, AcceptWords: []string{"pingüinos"}, // Debian's es_ES lacks pingüino
	}))
	text := "Nuestra nueva cancion para el verano"
	fs := spelling(t, text, es)
	require.Equal(t, []string{"cancion"}, words(fs))
	require.Equal(t, strings.Index(text, "cancion"), fs[0].Offset)
	require.Contains(t, fs[0].Message, "canción")
}

func TestSpellingEnglish(t *testing.T) {
	en := Rules{Languages: []string{"en"}}
	require.Empty(t, spelling(t, "Our community managers can't wait to share the new collection this weekend. It's the co-founders' pick!", en))
	fs := spelling(t, "We recieve your messages.", en)
	require.Equal(t, []string{"recieve"}, words(fs))
	require.Contains(t, fs[0].Message, "receive")
}

func TestSpellingMixedLanguages(t *testing.T) {
	text := "Bon dia a tothom! Buenos días a todos: os esperamos en la tienda amb la nova col·lecció."
	require.Empty(t, spelling(t, text, Rules{Languages: []string{"ca", "es"}}))
	require.Contains(t, words(spelling(t, text, Rules{Languages: []string{"ca"}})), "tienda")

	fs := spelling(t, "The new colection, la nova col·lecció, la nueva colección.", Rules{
		Languages: []string{"en", "ca", "es"}, SpellingSeverity: Block,
	})
	require.Len(t, fs, 1)
	require.Equal(t, Block, fs[0].Severity)
	require.Equal(t, `"colection" is not Catalan, English or Spanish (suggestions: colección, collection)`, fs[0].Message)
}

func TestSpellingAcceptsBrandNames(t *testing.T) {
	text := "Ens veiem a Gerundium aquest dissabte amb l'Acmecorp i la Zumzum-Festa."
	r := Rules{Languages: []string{"ca"}}
	require.Equal(t, []string{"Gerundium", "l'Acmecorp", "Zumzum-Festa"}, words(spelling(t, text, r)))
	r.AcceptWords = []string{"gerundium", "Acmecorp", "Zumzum"}
	require.Empty(t, spelling(t, text, r))
}

func TestSpellingSkipsWhatIsNotProse(t *testing.T) {
	text := "Segueix @cmo_dev i #CampanyaNadl2024 a https://cmo.example/agendaa o escriu a hola@cmoo.cat. " +
		"ONG, 2n, 10h, 2 x 1, snake_case, 日本語, cmoo.cat i www.cmoo.cat."
	require.Empty(t, spelling(t, text, Rules{Languages: []string{"ca"}}))
}

func TestSpellingCheckIsSafeForConcurrentUse(t *testing.T) {
	c := withDictionaries(t)
	texts := []string{
		"L'àvia ens ha portat una col·lecció de fotos antigues.",
		"El niño pequeño irá mañana a la montaña.",
		"Our community managers can't wait for the weekend.",
	}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			// Misspellings unique to each goroutine make gospell expand
			// and cache new words while the others read.
			text := texts[i%3] + " xq" + strings.Repeat("z", i+1)
			fs, err := c.Check(text, Rules{Languages: []string{"ca", "es", "en"}})
			if err != nil || len(fs) != 1 {
				t.Errorf("%q: %v %v", text, fs, err)
			}
		})
	}
	wg.Wait()
}

func TestMissingDictionaryNamesThePackage(t *testing.T) {
	dir := t.TempDir()
	// A dangling link, as a half-removed package leaves behind.
	require.NoError(t, os.Symlink(filepath.Join(dir, "gone.aff"), filepath.Join(dir, "ca.aff")))
	c := New(dir)
	_, err := c.Check("Hola", Rules{Languages: []string{"ca", "es"}})
	require.ErrorIs(t, err, ErrNoDictionary)
	require.ErrorContains(t, err, "hunspell-ca")
	require.ErrorContains(t, err, "hunspell-es")
	require.ErrorContains(t, err, dir)

	// Without spelling, the same Checker works.
	fs, err := c.Check("Hola", Rules{Platform: "x"})
	require.NoError(t, err)
	require.Empty(t, fs)
}

func TestDictionaryThroughLinks(t *testing.T) {
	withDictionaries(t)
	// Debian links ca_ES.* to ca.*; a directory with only the links works.
	dir := t.TempDir()
	for _, ext := range []string{".aff", ".dic"} {
		require.NoError(t, os.Symlink(filepath.Join(DefaultDictDir, "ca"+ext), filepath.Join(dir, "ca_ES"+ext)))
	}
	fs, err := New(dir).Check("La col·lecció de l'àvia", Rules{Languages: []string{"ca"}})
	require.NoError(t, err)
	require.Empty(t, fs)

	// A broken dictionary is an error, not a silent pass.
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "en_US.aff"), []byte("SET KOI8-R\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "en_US.dic"), []byte("1\nword\n"), 0o644))
	_, err = New(bad).Check("word", Rules{Languages: []string{"en"}})
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrNoDictionary))
	require.ErrorContains(t, err, "hunspell-en-us")
}

func TestDictionaryIsReloadedToBoundItsCache(t *testing.T) {
	withDictionaries(t)
	dir := t.TempDir()
	for _, ext := range []string{".aff", ".dic"} {
		require.NoError(t, os.Symlink(filepath.Join(DefaultDictDir, "en_US"+ext), filepath.Join(dir, "en_US"+ext)))
	}
	c := New(dir)
	en := Rules{Languages: []string{"en"}}
	fs, err := c.Check("The weekend", en)
	require.NoError(t, err)
	require.Empty(t, fs)
	d := c.dicts["en"]
	first := d.gs
	require.NotEmpty(t, d.seen)

	fillSeen(d)
	_, err = c.Check("The weekend", en)
	require.NoError(t, err)
	require.NotSame(t, first, d.gs, "a fresh dictionary after reloadAfter lookups")
	require.Less(t, len(d.seen), 10)

	// If the files are gone by then, the loaded dictionary carries on.
	second := d.gs
	require.NoError(t, os.Remove(filepath.Join(dir, "en_US.aff")))
	fillSeen(d)
	fs, err = c.Check("The weekend", en)
	require.NoError(t, err)
	require.Empty(t, fs)
	require.Same(t, second, d.gs)
}

// fillSeen makes d look as if it had answered reloadAfter distinct words.
func fillSeen(d *dictionary) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.seen); i < reloadAfter; i++ {
		d.seen[fmt.Sprint("w", i)] = false
	}
}

// BenchmarkCheck is a 280-character post in Catalan with a link, a
// mention, hashtags and a misspelling, checked against X's limits and all
// three languages, with the dictionaries loaded and the words seen before
// (a worker's steady state).
func BenchmarkCheck(b *testing.B) {
	c := withDictionaries(b)
	post := "Aquest dissabte presentem la nova col·lecció d'hivern a la botiga de Gràcia! " +
		"L'àvia Rosa ens ha ajudat amb els colors. Vine a veure-la, tasta el nostre xocolata calent i " +
		"emporta't un regal. Més informació a https://cmo.example/hivern @cmo_dev #Hivern #Barcelona colecció"
	if n := len([]rune(post)); n < 270 || n > 290 {
		b.Fatalf("the post has %d characters", n)
	}
	r := Rules{Platform: "x", Languages: []string{"ca", "es", "en"}, BannedWords: []string{"gratis"}, RequiredWords: []string{"col·lecció"}}
	fs, err := c.Check(post, r)
	require.NoError(b, err)
	require.Equal(b, []string{"colecció"}, words(fs))
	for b.Loop() {
		if _, err := c.Check(post, r); err != nil {
			b.Fatal(err)
		}
	}
}
