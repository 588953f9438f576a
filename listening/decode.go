package listening

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ItemError locates a bad mention in a request or file: the line of an
// NDJSON or CSV input, or the index in a JSON array, and the field.
type ItemError struct {
	Line  int // 1-based; 0 for JSON arrays
	Index int // 0-based position among the mentions
	Field string
	Msg   string
	// Err is the underlying error, for errors.As.
	Err error
}

func (e *ItemError) Unwrap() error { return e.Err }

func (e *ItemError) Error() string {
	where := fmt.Sprintf("mentions[%d]", e.Index)
	if e.Line > 0 {
		where = fmt.Sprintf("line %d", e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", where, e.Field, e.Msg)
	}
	return where + ": " + e.Msg
}

func itemErr(line, index int, err error) *ItemError {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &ItemError{Line: line, Index: index, Field: fe.Field, Msg: fe.Message, Err: err}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &ItemError{Line: line, Index: index, Field: te.Field, Msg: fmt.Sprintf("must be %s, got %s", te.Type, te.Value), Err: err}
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return &ItemError{Line: line, Index: index, Field: "created_at", Msg: "is not an RFC 3339 time: " + strconv.Quote(pe.Value), Err: err}
	}
	return &ItemError{Line: line, Index: index, Msg: err.Error(), Err: err}
}

// DecodeJSON reads a JSON array of mentions or NDJSON (one object per
// line) and calls fn for each with its line (0 inside an array). Unknown fields are refused, so that a typo
// in a producer's field name is an error rather than a silently empty
// value.
func DecodeJSON(r io.Reader, fn func(m Mention, line int) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := firstNonSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	if first == '[' {
		return decodeArray(br, fn)
	}
	return decodeLines(br, fn)
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\n' && b != '\r' && b != '\t' {
			return b, br.UnreadByte()
		}
	}
}

func decodeArray(r io.Reader, fn func(Mention, int) error) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if _, err := dec.Token(); err != nil {
		return &ItemError{Msg: "not a JSON array: " + err.Error()}
	}
	for i := 0; dec.More(); i++ {
		var m Mention
		if err := dec.Decode(&m); err != nil {
			return itemErr(0, i, err)
		}
		if err := fn(m, 0); err != nil {
			return itemErr(0, i, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return &ItemError{Msg: "unterminated JSON array: " + err.Error()}
	}
	return nil
}

func decodeLines(br *bufio.Reader, fn func(Mention, int) error) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), MaxTextBytes*8)
	line, index := 0, 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var m Mention
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return itemErr(line, index, err)
		}
		if dec.More() {
			return &ItemError{Line: line, Index: index, Msg: "more than one JSON value on the line"}
		}
		if err := fn(m, line); err != nil {
			return itemErr(line, index, err)
		}
		index++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &ItemError{Line: line + 1, Index: index, Msg: fmt.Sprintf("line longer than %d bytes", MaxTextBytes*8)}
		}
		return err
	}
	return nil
}

// CSVColumns are the columns a CSV file may have, in any order; the
// header row names them. topics are separated by ';'.
var CSVColumns = []string{"brand", "source", "external_id", "author_handle", "author_followers", "author_verified",
	"text", "lang", "created_at", "url", "sentiment_score", "sentiment_label", "topics", "competitor"}

// DecodeCSV reads mentions from CSV with a header row.
func DecodeCSV(r io.Reader, fn func(m Mention, line int) error) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return &ItemError{Line: 1, Msg: "header: " + err.Error()}
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !contains(CSVColumns, h) {
			return &ItemError{Line: 1, Field: h, Msg: "unknown column (known: " + strings.Join(CSVColumns, ", ") + ")"}
		}
		col[h] = i
	}
	for index := 0; ; index++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return &ItemError{Line: line, Index: index, Msg: err.Error()}
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		m, err := fromRecord(get)
		if err == nil {
			err = fn(m, line)
		}
		if err != nil {
			return itemErr(line, index, err)
		}
	}
}

func fromRecord(get func(string) string) (Mention, error) {
	m := Mention{Brand: get("brand"), Source: get("source"), ExternalID: get("external_id"), Text: get("text"),
		Lang: get("lang"), URL: get("url"), Competitor: get("competitor")}
	m.Author.Handle = get("author_handle")
	if v := get("author_followers"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return m, fieldErr("author_followers", "is not a whole number: %q", v)
		}
		m.Author.Followers = n
	}
	if v := get("author_verified"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return m, fieldErr("author_verified", "is not true or false: %q", v)
		}
		m.Author.Verified = b
	}
	if v := get("created_at"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return m, fieldErr("created_at", "is not an RFC 3339 time: %q", v)
		}
		m.CreatedAt = t
	}
	if v := get("sentiment_score"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return m, fieldErr("sentiment_score", "is not a number: %q", v)
		}
		m.Sentiment = &Sentiment{Score: f, Label: get("sentiment_label")}
	}
	if v := get("topics"); v != "" {
		for _, t := range strings.Split(v, ";") {
			if t = strings.TrimSpace(t); t != "" {
				m.Topics = append(m.Topics, t)
			}
		}
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
