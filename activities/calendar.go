package activities

import (
	"context"
	"time"

	"github.com/cmo-dev/cmo/store"
)

// CalendarInput is one publish step's posts, due at one moment, for the
// content calendar.
type CalendarInput struct {
	CampaignID string         `json:"campaign_id"`
	Brand      string         `json:"brand"`
	Playbook   string         `json:"playbook"`
	Title      string         `json:"title,omitempty"`
	StepID     string         `json:"step_id"`
	At         time.Time      `json:"at"`
	Timezone   string         `json:"timezone,omitempty"`
	Posts      []CalendarPost `json:"posts"`
}

// CalendarPost is the text due on one channel.
type CalendarPost struct {
	ChannelID string `json:"channel_id"`
	Text      string `json:"text"`
}

// ScheduleCalendar puts a publish step's posts on the content calendar
// (and the iCalendar feeds) at their time; whether they went out is read
// from the publish ledger when the calendar is shown.
func (a *Activities) ScheduleCalendar(ctx context.Context, in CalendarInput) error {
	tz := in.Timezone
	if tz == "" {
		tz = "UTC"
	}
	es := make([]store.CalendarEntry, len(in.Posts))
	for i, p := range in.Posts {
		es[i] = store.CalendarEntry{CampaignID: in.CampaignID, StepID: in.StepID, ChannelID: p.ChannelID, BrandID: in.Brand,
			Playbook: in.Playbook, Title: in.Title, At: in.At, Timezone: tz, Text: p.Text}
	}
	return a.Store.UpsertCalendarEntries(ctx, es)
}
