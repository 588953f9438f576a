// Package ical writes iCalendar feeds (RFC 5545) of posts: one VEVENT per
// post at its local time in its brand's zone, with the VTIMEZONE that
// defines the zone over the span of the feed, so that any calendar
// application shows each post when it is due.
package ical

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one entry of the feed.
type Event struct {
	// UID identifies the event across refreshes of the feed.
	UID   string
	Start time.Time
	// Zone is the IANA time zone the event is shown in ("Europe/Madrid").
	Zone        string
	Duration    time.Duration
	Summary     string
	Description string
	URL         string
	Categories  []string
	// Status is TENTATIVE, CONFIRMED or CANCELLED.
	Status string
}

// Event statuses.
const (
	Tentative = "TENTATIVE"
	Confirmed = "CONFIRMED"
	Cancelled = "CANCELLED"
)

// Calendar is a feed.
type Calendar struct {
	Name string
	// Refresh is how often subscribers should fetch the feed again.
	Refresh time.Duration
	Events  []Event
	// Stamp is when the feed was produced (DTSTAMP).
	Stamp time.Time
}

// Write writes the calendar in RFC 5545 form: CRLF line ends, lines
// folded at 75 octets, text escaped. Every zone an event names must load
// with time.LoadLocation.
func (c Calendar) Write(w io.Writer) error {
	zones, err := c.zones()
	if err != nil {
		return err
	}
	lw := &lineWriter{w: w}
	lw.line("BEGIN:VCALENDAR")
	lw.line("VERSION:2.0")
	lw.line("PRODID:-//cmo//content calendar//EN")
	lw.line("CALSCALE:GREGORIAN")
	lw.line("METHOD:PUBLISH")
	if c.Name != "" {
		lw.line("X-WR-CALNAME:" + escape(c.Name))
	}
	if c.Refresh > 0 {
		d := duration(c.Refresh)
		lw.line("REFRESH-INTERVAL;VALUE=DURATION:" + d)
		lw.line("X-PUBLISHED-TTL:" + d)
	}
	for _, z := range zones {
		writeZone(lw, z.loc, z.from, z.to)
	}
	stamp := c.Stamp.UTC().Format(utcLayout)
	for _, e := range c.Events {
		lw.line("BEGIN:VEVENT")
		lw.line("UID:" + escape(e.UID))
		lw.line("DTSTAMP:" + stamp)
		if e.Zone == "" || e.Zone == "UTC" {
			lw.line("DTSTART:" + e.Start.UTC().Format(utcLayout))
		} else {
			loc, _ := time.LoadLocation(e.Zone) // loaded in zones
			lw.line("DTSTART;TZID=" + e.Zone + ":" + e.Start.In(loc).Format(localLayout))
		}
		if e.Duration > 0 {
			lw.line("DURATION:" + duration(e.Duration))
		}
		lw.line("SUMMARY:" + escape(e.Summary))
		if e.Description != "" {
			lw.line("DESCRIPTION:" + escape(e.Description))
		}
		if e.URL != "" {
			lw.line("URL:" + e.URL)
		}
		if len(e.Categories) > 0 {
			cs := make([]string, len(e.Categories))
			for i, c := range e.Categories {
				cs[i] = escape(c)
			}
			lw.line("CATEGORIES:" + strings.Join(cs, ","))
		}
		if e.Status != "" {
			lw.line("STATUS:" + e.Status)
		}
		lw.line("TRANSP:TRANSPARENT")
		lw.line("END:VEVENT")
	}
	lw.line("END:VCALENDAR")
	return lw.err
}

const (
	utcLayout   = "20060102T150405Z"
	localLayout = "20060102T150405"
)

type zoneSpan struct {
	loc      *time.Location
	from, to time.Time
}

// zones lists the zones the events use, each with the span its VTIMEZONE
// must cover, in name order.
func (c Calendar) zones() ([]zoneSpan, error) {
	byName := map[string]*zoneSpan{}
	for _, e := range c.Events {
		if e.Zone == "" || e.Zone == "UTC" {
			continue
		}
		z, ok := byName[e.Zone]
		if !ok {
			loc, err := time.LoadLocation(e.Zone)
			if err != nil {
				return nil, fmt.Errorf("event %s: time zone %q: %w", e.UID, e.Zone, err)
			}
			z = &zoneSpan{loc: loc, from: e.Start, to: e.Start}
			byName[e.Zone] = z
		}
		if e.Start.Before(z.from) {
			z.from = e.Start
		}
		if e.Start.After(z.to) {
			z.to = e.Start
		}
	}
	out := make([]zoneSpan, 0, len(byName))
	for _, z := range byName {
		out = append(out, *z)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].loc.String() < out[j].loc.String() })
	return out, nil
}

// writeZone writes a VTIMEZONE with one observance per offset change of
// the zone from the one in force at from until the first after to, taken
// from the system's zone database rather than summarised as rules, so
// that past and future changes of the zone's rules are right too.
func writeZone(lw *lineWriter, loc *time.Location, from, to time.Time) {
	lw.line("BEGIN:VTIMEZONE")
	lw.line("TZID:" + loc.String())
	at := from.In(loc)
	start, end := at.ZoneBounds()
	name, off := at.Zone()
	prev := off
	if !start.IsZero() {
		_, prev = start.Add(-time.Second).Zone()
	} else {
		start = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	observance(lw, start, prev, off, name, at.IsDST())
	for !end.IsZero() && !end.After(to.AddDate(0, 0, 1)) {
		_, prev = end.Add(-time.Second).In(loc).Zone()
		next := end.In(loc)
		name, off = next.Zone()
		observance(lw, end, prev, off, name, next.IsDST())
		_, end = next.ZoneBounds()
	}
	lw.line("END:VTIMEZONE")
}

func observance(lw *lineWriter, start time.Time, from, to int, name string, dst bool) {
	kind := "STANDARD"
	if dst {
		kind = "DAYLIGHT"
	}
	lw.line("BEGIN:" + kind)
	// DTSTART of an observance is local time as it was before the change.
	lw.line("DTSTART:" + start.UTC().Add(time.Duration(from)*time.Second).Format(localLayout))
	lw.line("TZOFFSETFROM:" + offset(from))
	lw.line("TZOFFSETTO:" + offset(to))
	if name != "" && !strings.HasPrefix(name, "+") && !strings.HasPrefix(name, "-") {
		lw.line("TZNAME:" + escape(name))
	}
	lw.line("END:" + kind)
}

func offset(seconds int) string {
	sign := "+"
	if seconds < 0 {
		sign, seconds = "-", -seconds
	}
	h, m, s := seconds/3600, seconds/60%60, seconds%60
	if s != 0 {
		return fmt.Sprintf("%s%02d%02d%02d", sign, h, m, s)
	}
	return fmt.Sprintf("%s%02d%02d", sign, h, m)
}

// duration writes d as an RFC 5545 duration (PT15M, P1DT2H).
func duration(d time.Duration) string {
	var b strings.Builder
	b.WriteString("P")
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d > 0 {
		b.WriteString("T")
		if h := d / time.Hour; h > 0 {
			fmt.Fprintf(&b, "%dH", h)
			d -= h * time.Hour
		}
		if m := d / time.Minute; m > 0 {
			fmt.Fprintf(&b, "%dM", m)
			d -= m * time.Minute
		}
		if s := d / time.Second; s > 0 {
			fmt.Fprintf(&b, "%dS", s)
		}
	}
	if b.Len() == 1 {
		return "PT0S"
	}
	return b.String()
}

// escape writes TEXT values (RFC 5545 3.3.11): backslash, semicolon,
// comma and line breaks are escaped; other control characters dropped.
func escape(s string) string {
	var b strings.Builder
	for _, r := range strings.ReplaceAll(s, "\r\n", "\n") {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == ';':
			b.WriteString(`\;`)
		case r == ',':
			b.WriteString(`\,`)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lineWriter folds content lines at 75 octets without splitting a UTF-8
// character, and ends them with CRLF.
type lineWriter struct {
	w   io.Writer
	err error
}

func (lw *lineWriter) line(s string) {
	if lw.err != nil {
		return
	}
	var b strings.Builder
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(s)
	b.WriteString("\r\n")
	_, lw.err = io.WriteString(lw.w, b.String())
}
