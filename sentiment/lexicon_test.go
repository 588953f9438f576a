package sentiment

import (
	"bufio"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestLexiconsLoad(t *testing.T) {
	tb, err := load()
	if err != nil {
		t.Fatal(err)
	}
	for l, lx := range tb.lex {
		// A floor well under the real sizes: a file that stopped loading
		// would drop a lexicon far below it.
		if min := map[int]int{langCA: 500, langES: 500, langEN: 6000}[l]; len(lx.entries) < min {
			t.Errorf("%s lexicon has %d entries, want at least %d", langCodes[l], len(lx.entries), min)
		}
	}
	if len(tb.emoticons) < 100 {
		t.Errorf("%d emoticons", len(tb.emoticons))
	}
}

// TestEveryFileIsUsedAndDocumented keeps the data directory, the load list
// and the README (which carries each file's source and licence) in step.
func TestEveryFileIsUsedAndDocumented(t *testing.T) {
	used := map[string]bool{}
	for l := range numLangs {
		for _, name := range langFiles[l] {
			used[name] = true
		}
		used["modifiers_"+langCodes[l]+".tsv"] = true
		used["stopwords_"+langCodes[l]+".txt"] = true
	}
	readme, err := os.ReadFile("lexicons/README.md")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(lexiconFiles, "lexicons")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadDir("lexicons")
	if err != nil {
		t.Fatal(err)
	}
	if len(onDisk) != len(entries)+1 { // + README.md
		t.Errorf("lexicons/ has %d files, %d embedded: every data file must be .tsv or .txt", len(onDisk), len(entries))
	}
	for _, e := range entries {
		name := e.Name()
		if !used[name] {
			t.Errorf("%s is embedded but never loaded", name)
		}
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("%s is not in lexicons/README.md", name)
		}
	}
}

// TestNoTermListedTwiceInAFile catches a rating silently replaced within one
// file; a later file replacing an earlier one's rating is by design.
func TestNoTermListedTwiceInAFile(t *testing.T) {
	entries, err := fs.ReadDir(lexiconFiles, "lexicons")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := loaded()
	if err != nil {
		t.Fatal(err)
	}
	sc := new(scratch)
	for _, e := range entries {
		f, err := lexiconFiles.Open("lexicons/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		lines := bufio.NewScanner(f)
		for n := 1; lines.Scan(); n++ {
			line := lines.Text()
			if line == "" || line[0] == '#' {
				continue
			}
			term, _, _ := strings.Cut(line, "\t")
			if !strings.HasSuffix(e.Name(), ".txt") {
				// Folded: atención and atencion are one key.
				sc.tokenize(term, tb.emoticons, false)
				words := make([]string, len(sc.toks))
				for i, tk := range sc.toks {
					words[i] = string(sc.buf[tk.start:tk.end])
				}
				term = strings.Join(words, " ")
			}
			if first, dup := seen[term]; dup {
				t.Errorf("%s:%d: %q already on line %d", e.Name(), n, term, first)
			}
			seen[term] = n
		}
		f.Close()
	}
}

func TestBadLexiconLinesAreReported(t *testing.T) {
	lx := &lexicon{entries: map[string]*entry{}}
	sc := new(scratch)
	for _, term := range []string{"", "   ", "...", "good. bad"} {
		if err := lx.add(term, rule{kind: kindTerm, value: 1}, sc, nil); err == nil {
			t.Errorf("add(%q) accepted a term with no words or across punctuation", term)
		}
	}
}
