// Package sentiment rates the sentiment of short social-media texts about a
// brand (posts, replies, comments) in Catalan, Spanish and English, so that
// crisis detection can count how many of a brand's mentions are negative.
//
// # Method
//
// It is a lexicon and rule model after VADER (Hutto & Gilbert, 2014), built
// to be cheap enough for the ingestion path (no allocation per text once
// warm):
//
//   - The text is split into words, emoji and emoticons, lower-cased, with
//     the accents of vowels folded away for lookup ("atención" and
//     "atencion" are one key; ñ and ç stay letters of their own). Links
//     and mentions are skipped. Catalan elisions (l'atenció, d'espera) and
//     l·l, however typed, are handled; English n't stays in its word.
//   - Words are looked up in the language's lexicon, multiword phrases
//     first and longest first ("still waiting", "cobrado dos veces",
//     "encara no ha arribat"). Catalan and Spanish lexicons list
//     adjectives once; suffix rules find feminine, plural, superlative and
//     adverb forms. Letters repeated for emphasis ("sooo") are squashed.
//   - Each term has a valence on VADER's scale [-4, 4]. A negator up to
//     three words before flips and dampens it (×-0.74: "not bad" is mildly
//     positive); an intensifier or diminisher multiplies the next term; a
//     word in capitals in a text that is not all capitals is emphasised;
//     after a contrast word ("but", "pero", "però") the clause after
//     weighs 1.5 and the one before 0.5; exclamation marks, and repeated
//     question marks, amplify the total.
//   - The sum is normalized into [-1, 1] with x/sqrt(x²+15) and labelled
//     with LabelFor (±0.05).
//
// The lexicons are data files embedded from the lexicons directory, whose
// README gives the source and licence of each.
//
// # Limits
//
// A lexicon reads words, not intent: sarcasm ("great, another delay")
// and irony score as their words do; domain words change meaning with the
// brand (a "killer" offer, a "sick" trick), and the customer-service
// vocabulary covers common complaints, not every trade. Language
// detection is a guess over three languages. Texts in other languages are
// rated with the nearest lexicon, which mostly yields neutral.
//
// Sentiment that a platform or listening provider supplies with a mention
// is usually better informed than this model, and should win when present;
// that is the caller's decision, and this package only scores text.
package sentiment
