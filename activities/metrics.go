package activities

import (
	"context"
	"errors"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/report"
	"github.com/cmo-dev/cmo/store"
)

// SampleInput names the campaign whose numbers the metrics collector
// records, and the channels it publishes to.
type SampleInput struct {
	CampaignID string   `json:"campaign_id"`
	Channels   []string `json:"channels,omitempty"`
}

// SampleResult says what one measurement round found.
type SampleResult struct {
	At    time.Time `json:"at"`
	Posts int       `json:"posts"`
	// LastPublished is when the campaign's latest post went out (zero
	// before the first): the collector measures often while posts are
	// young and seldom once they are old.
	LastPublished time.Time `json:"last_published,omitempty"`
}

// SampleMetrics records one round of the campaign's numbers in its time
// series: every published post's metrics and the followers of its
// channels.
func (a *Activities) SampleMetrics(ctx context.Context, in SampleInput) (SampleResult, error) {
	m, err := a.measure(ctx, in.CampaignID, in.Channels)
	if err != nil {
		return SampleResult{}, err
	}
	return SampleResult{At: m.At, Posts: len(m.Posts), LastPublished: m.LastPublished}, nil
}

// measurement is one round of a campaign's numbers and what the KPIs are
// computed from.
type measurement struct {
	report.Measured
	At            time.Time
	LastPublished time.Time
	Referrers     []report.Referrer
	Currency      string
}

// measure reads the current numbers of the campaign's posts and the
// followers of its channels, records them as one round of its time
// series, and gathers its tracked clicks, costs and conversions up to
// that moment.
func (a *Activities) measure(ctx context.Context, campaignID string, channels []string) (measurement, error) {
	// To the microsecond, as PostgreSQL keeps it: the round is then named
	// by the same instant in Go and in the database.
	m := measurement{At: a.now().UTC().Truncate(time.Microsecond)}
	posts, last, err := a.postMetrics(ctx, campaignID)
	if err != nil {
		return m, err
	}
	m.Posts, m.LastPublished = posts, last

	sampled, err := a.Store.SampledChannels(ctx, campaignID)
	if err != nil {
		return m, err
	}
	ids := union(channels, sampled)
	for _, p := range posts {
		ids = union(ids, []string{p.ChannelID})
	}
	followers := a.sampleFollowers(ctx, campaignID, ids, m.At)
	samples := make([]store.PostSample, len(posts))
	for i, p := range posts {
		samples[i] = store.PostSample{CampaignID: campaignID, StepID: p.StepID, ChannelID: p.ChannelID, PostID: p.PostID, BatchAt: m.At, Metrics: p.Metrics}
	}
	if err := a.Store.RecordSamples(ctx, samples, followers); err != nil {
		return m, err
	}

	ranges, err := a.Store.FollowerRanges(ctx, campaignID, m.At)
	if err != nil {
		return m, err
	}
	clicks, err := a.Store.CampaignClicks(ctx, campaignID, m.At)
	if err != nil {
		return m, err
	}
	money, err := a.Store.CampaignMoney(ctx, campaignID, m.At)
	if err != nil {
		return m, err
	}
	m.Clicks, m.Cost, m.Conversions, m.Revenue, m.Currency = clicks.Total, money.Cost, money.Conversions, money.Revenue, money.Currency
	for _, h := range clicks.Referrers {
		m.Referrers = append(m.Referrers, report.Referrer{Host: h.Host, Clicks: h.Clicks})
	}

	byID := map[string]*report.ChannelReport{}
	row := func(id string) *report.ChannelReport {
		if c, ok := byID[id]; ok {
			return c
		}
		c := &report.ChannelReport{ChannelID: id, Channel: id}
		if ch, err := a.Store.Channel(ctx, id); err == nil {
			c.Channel = ch.Name
		}
		byID[id] = c
		return c
	}
	for _, r := range ranges {
		c := row(r.ChannelID)
		first, last := r.FirstAt, r.LastAt
		c.FollowersStart, c.FollowersStartAt, c.Followers, c.FollowersAt = r.First, &first, r.Last, &last
		c.Growth = r.Last - r.First
	}
	for id, n := range clicks.ByChannel {
		row(id).Clicks = n
	}
	for _, c := range byID {
		m.Channels = append(m.Channels, *c)
	}
	sort.Slice(m.Channels, func(i, j int) bool { return m.Channels[i].Channel < m.Channels[j].Channel })
	return m, nil
}

// sampleFollowers reads each channel's follower count. A channel that
// cannot be read now is left out of this round rather than failing a
// report: its growth is then measured from the rounds that did read it.
func (a *Activities) sampleFollowers(ctx context.Context, campaignID string, ids []string, batch time.Time) []store.FollowerSample {
	var out []store.FollowerSample
	for _, id := range ids {
		info, err := a.accountInfo(ctx, id)
		if err != nil {
			a.logger().Warn("read followers", "campaign", campaignID, "channel", id, "error", err)
			continue
		}
		at := info.At
		if at.IsZero() {
			at = a.now().UTC()
		}
		out = append(out, store.FollowerSample{CampaignID: campaignID, ChannelID: id, BatchAt: batch, At: at, Followers: info.Followers})
	}
	return out
}

func (a *Activities) accountInfo(ctx context.Context, channelID string) (platforms.AccountInfo, error) {
	ch, err := a.Store.Channel(ctx, channelID)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	if ch.Status != "active" {
		return platforms.AccountInfo{}, errors.New("channel is " + ch.Status)
	}
	conn, err := a.Platforms.Get(ch.Platform)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	acct, err := a.Store.ChannelAccount(ctx, ch)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	return conn.AccountInfo(ctx, acct)
}

// postMetrics reads the current numbers of every post the campaign
// published, and when the latest went out.
func (a *Activities) postMetrics(ctx context.Context, campaignID string) ([]PostReport, time.Time, error) {
	var last time.Time
	entries, err := a.Store.CampaignLedger(ctx, campaignID)
	if err != nil {
		return nil, last, err
	}
	out := []PostReport{}
	// A campaign posts many times on few channels: read each channel once.
	type channel struct {
		ch   store.Channel
		acct platforms.Account
	}
	channels := map[string]channel{}
	for _, e := range entries {
		if e.Status != store.LedgerPublished {
			continue
		}
		if e.PublishedAt != nil && e.PublishedAt.After(last) {
			last = *e.PublishedAt
		}
		c, ok := channels[e.ChannelID]
		if !ok {
			ch, err := a.Store.Channel(ctx, e.ChannelID)
			if err != nil {
				return nil, last, err
			}
			acct, err := a.Store.ChannelAccount(ctx, ch)
			if err != nil {
				return nil, last, err
			}
			c = channel{ch, acct}
			channels[e.ChannelID] = c
		}
		ch := c.ch
		conn, err := a.Platforms.Get(ch.Platform)
		if err != nil {
			return nil, last, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePermanent, nil)
		}
		m, err := conn.Metrics(ctx, c.acct, e.RemoteID)
		if err != nil {
			return nil, last, a.classifyRead(err)
		}
		if m.At.IsZero() {
			m.At = a.now().UTC()
		}
		out = append(out, PostReport{ChannelID: ch.ID, Channel: ch.Name, StepID: e.StepID, PostID: e.RemoteID, URL: e.RemoteURL, Metrics: m})
	}
	return out, last, nil
}

// union adds the ids of b missing from a, keeping a's order.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, id := range b {
		found := false
		for _, x := range out {
			if x == id {
				found = true
				break
			}
		}
		if !found && id != "" {
			out = append(out, id)
		}
	}
	return out
}
