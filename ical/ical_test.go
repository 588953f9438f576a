package ical

import (
	"bytes"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/stretchr/testify/require"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestFeedParsesWithZonesAcrossDaylightSaving(t *testing.T) {
	madrid, ny := mustZone(t, "Europe/Madrid"), mustZone(t, "America/New_York")
	long := strings.Repeat("Cafè amb llet, ", 12) + "i croissant; ja!\nSegona línia"
	events := []Event{
		{UID: "c1/launch/ch_a@cmo", Start: time.Date(2030, 1, 15, 9, 0, 0, 0, madrid), Zone: "Europe/Madrid", Duration: 15 * time.Minute,
			Summary: "[sandbox-news] Winter post", Status: Tentative, Categories: []string{"sandbox", "first-campaign"}},
		{UID: "c1/summer/ch_a@cmo", Start: time.Date(2030, 7, 15, 9, 0, 0, 0, madrid), Zone: "Europe/Madrid", Duration: 15 * time.Minute,
			Summary: long, Description: long, URL: "https://sandbox.example/@news/17", Status: Confirmed},
		// The night the clocks go forward in Madrid: 01:30 UTC is 03:30 local.
		{UID: "c2/night/ch_a@cmo", Start: time.Date(2030, 3, 31, 1, 30, 0, 0, time.UTC), Zone: "Europe/Madrid", Summary: "Night"},
		{UID: "c3/ny/ch_b@cmo", Start: time.Date(2030, 11, 3, 12, 0, 0, 0, ny), Zone: "America/New_York", Summary: "New York"},
		{UID: "c4/utc/ch_c@cmo", Start: time.Date(2030, 2, 1, 8, 0, 0, 0, time.UTC), Zone: "UTC", Summary: "UTC"},
	}
	var b bytes.Buffer
	require.NoError(t, Calendar{Name: "cmo — Demo Coffee Co.", Refresh: 15 * time.Minute, Events: events,
		Stamp: time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)}.Write(&b))
	raw := b.String()

	for _, l := range strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n") {
		require.LessOrEqual(t, len(l), 75, "line longer than 75 octets: %q", l)
		require.True(t, utf8Valid(l), "a fold split a character: %q", l)
	}
	require.NotContains(t, strings.ReplaceAll(raw, "\r\n", ""), "\n", "every line ends with CRLF")
	require.Contains(t, raw, "DTSTART;TZID=Europe/Madrid:20300115T090000\r\n")
	require.Contains(t, raw, "DTSTART;TZID=Europe/Madrid:20300715T090000\r\n")
	require.Contains(t, raw, "DTSTART;TZID=Europe/Madrid:20300331T033000\r\n")
	require.Contains(t, raw, "DTSTART:20300201T080000Z\r\n")

	cal, err := ics.ParseCalendar(strings.NewReader(raw))
	require.NoError(t, err)
	got := map[string]time.Time{}
	for _, e := range cal.Events() {
		at, err := e.GetStartAt()
		require.NoError(t, err)
		got[e.Id()] = at
	}
	require.Len(t, got, len(events))
	for _, e := range events {
		require.True(t, got[e.UID].Equal(e.Start), "%s: want %s, got %s", e.UID, e.Start, got[e.UID])
	}

	var zones []string
	for _, c := range cal.Components {
		if tz, ok := c.(*ics.VTimezone); ok {
			zones = append(zones, tz.GetProperty(ics.ComponentPropertyTzid).Value)
			var kinds []string
			for _, sub := range tz.Components {
				switch sub.(type) {
				case *ics.Standard:
					kinds = append(kinds, "STANDARD")
				case *ics.Daylight:
					kinds = append(kinds, "DAYLIGHT")
				}
			}
			name := tz.GetProperty(ics.ComponentPropertyTzid).Value
			if name == "Europe/Madrid" {
				// Its events fall in winter and summer time.
				require.Equal(t, []string{"STANDARD", "DAYLIGHT"}, kinds)
			} else {
				require.Equal(t, []string{"STANDARD"}, kinds, "%s: one event, in winter time", name)
			}
		}
	}
	require.Equal(t, []string{"America/New_York", "Europe/Madrid"}, zones, "one VTIMEZONE per zone used; UTC needs none")

	// Madrid's spring change in 2030, as RFC 5545 writes it: from 02:00
	// local in the old offset.
	require.Contains(t, raw, "BEGIN:DAYLIGHT\r\nDTSTART:20300331T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT")

	var summer *ics.VEvent
	for _, e := range cal.Events() {
		if e.Id() == "c1/summer/ch_a@cmo" {
			summer = e
		}
	}
	require.NotNil(t, summer)
	require.Equal(t, "CONFIRMED", summer.GetProperty(ics.ComponentPropertyStatus).Value)
	require.Equal(t, "https://sandbox.example/@news/17", summer.GetProperty(ics.ComponentPropertyUrl).Value)
	require.Contains(t, raw, `Cafè amb llet\, `, "commas are escaped")
	require.Contains(t, strings.ReplaceAll(raw, "\r\n ", ""), `i croissant\; ja!\nSegona línia`, "semicolons and line breaks too")
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute: "PT15M", 0: "PT0S", 26*time.Hour + 30*time.Second: "P1DT2H30S", 48 * time.Hour: "P2D",
	} {
		require.Equal(t, want, duration(d))
	}
}

func TestUnknownZoneIsAnError(t *testing.T) {
	err := Calendar{Events: []Event{{UID: "x", Zone: "Mars/Olympus", Start: time.Now()}}}.Write(&bytes.Buffer{})
	require.ErrorContains(t, err, "Mars/Olympus")
}
