package rules

// Inbox rules decide which mentions need a reply: they read one mention
// and its author, and nothing that changes over time, so the same mention
// is classified the same way at ingestion, in a replay and in a test.
const Inbox Context = "inbox"

// InboxEnv is what an inbox rule can read:
//
//	mention.negative && author.followers >= 10000
//	mention.question || mention.direct
type InboxEnv struct {
	Mention InboxMention `expr:"mention"`
	Author  InboxAuthor  `expr:"author"`
}

// InboxMention is the mention an inbox rule classifies.
type InboxMention struct {
	Text   string `expr:"text"`
	Lang   string `expr:"lang"`
	Source string `expr:"source"`
	// Sentiment is the score in [-1, 1]; Label its label (negative,
	// neutral, positive) and Negative whether the label is negative.
	Sentiment float64 `expr:"sentiment"`
	Label     string  `expr:"label"`
	Negative  bool    `expr:"negative"`
	// Question is true when the text asks something (a question mark,
	// including Spanish's opening one).
	Question bool `expr:"question"`
	// Direct is true when the text addresses one of the brand's own
	// accounts by handle.
	Direct     bool     `expr:"direct"`
	Topics     []string `expr:"topics"`
	Competitor string   `expr:"competitor"`
}

// InboxAuthor is who wrote the mention.
type InboxAuthor struct {
	Handle    string `expr:"handle"`
	Followers int64  `expr:"followers"`
	Verified  bool   `expr:"verified"`
}
