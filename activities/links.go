package activities

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/cmo-dev/cmo/store"
)

// linkPattern finds web links in a post. Parentheses and quotes end a
// link, as do the punctuation marks trimmed off its end by trimLink.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"'()\[\]{}]+`)

// linkCodeEncoding writes short-link codes in lower case, without
// letters people confuse with digits when they type one.
var linkCodeEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// LinkCode is the short-link code of a target linked from a campaign's
// post on a channel: ten characters (50 bits) derived from the three, so
// that every attempt at a post makes the same link and the same text.
func LinkCode(campaignID, channelID, target string) string {
	sum := sha256.Sum256([]byte(campaignID + "\x00" + channelID + "\x00" + target))
	return linkCodeEncoding.EncodeToString(sum[:7])[:10]
}

// trackLinks replaces each web link of a campaign post with a short link
// that counts the click and sends people on with UTM parameters naming
// the channel and the campaign. Without a public base URL (LinkBase),
// or for posts that are not a campaign's, the text goes out as written.
func (a *Activities) trackLinks(ctx context.Context, in PublishInput, ch store.Channel) (string, error) {
	if a.LinkBase == "" || !in.TrackLinks {
		return in.Text, nil
	}
	base := strings.TrimRight(a.LinkBase, "/") + "/l/"
	var b strings.Builder
	last := 0
	for _, loc := range linkPattern.FindAllStringIndex(in.Text, -1) {
		start, end := loc[0], loc[1]
		target := trimLink(in.Text[start:end])
		end = start + len(target)
		if strings.HasPrefix(target, base) {
			continue // already a tracked link
		}
		dest, ok := withUTM(target, ch, in.CampaignID)
		if !ok {
			continue
		}
		l, err := a.Store.EnsureTrackedLink(ctx, store.TrackedLink{
			Code: LinkCode(in.CampaignID, ch.ID, target), CampaignID: in.CampaignID, BrandID: ch.BrandID,
			ChannelID: ch.ID, Target: target, Destination: dest,
		})
		if errors.Is(err, store.ErrExists) {
			// A code collision: the link goes out untracked rather than
			// holding the post.
			a.logger().Warn("tracked link code taken; publishing the link untracked", "campaign", in.CampaignID, "channel", ch.ID, "target", target)
			continue
		} else if err != nil {
			return "", err
		}
		b.WriteString(in.Text[last:start])
		b.WriteString(base + l.Code)
		last = end
	}
	b.WriteString(in.Text[last:])
	return b.String(), nil
}

// trimLink drops the punctuation that ends a sentence rather than the link.
func trimLink(s string) string {
	return strings.TrimRight(s, ".,;:!?…")
}

// withUTM adds the UTM parameters that tell web analytics where a visit
// came from: the platform as source, social as medium, the campaign and
// the channel. Parameters the link already has are kept.
func withUTM(target string, ch store.Channel, campaignID string) (string, bool) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "", false
	}
	q := u.Query()
	for k, v := range map[string]string{
		"utm_source": ch.Platform, "utm_medium": "social", "utm_campaign": campaignID, "utm_content": ch.Name,
	} {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), true
}
