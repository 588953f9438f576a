package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/store"
)

// InboxStarter starts an inbox item's workflow. Starting one that runs,
// or ran, already is not an error: the workflow id comes from the item,
// so a sweep that starts an item twice starts it once.
type InboxStarter interface {
	StartInboxItem(ctx context.Context, item inbox.Item) error
}

// dispatchBatch bounds the items one DispatchInbox call starts, so one
// attempt stays well inside its timeout; the workflow calls again at once
// when there were more.
const dispatchBatch = 200

// DispatchResult says what a sweep of a brand's inbox did.
type DispatchResult struct {
	Started int `json:"started"`
	// More is true when items were left for the next call.
	More bool `json:"more,omitempty"`
}

// DispatchInbox starts the workflows of a brand's inbox items that have
// none yet, oldest first, and marks them started. The items were written
// with their mentions; this is what turns them into running deadlines,
// however long after the mention's request it runs.
func (a *Activities) DispatchInbox(ctx context.Context, brand string) (DispatchResult, error) {
	if a.Inbox == nil {
		return DispatchResult{}, temporal.NewNonRetryableApplicationError("this worker cannot start inbox items", ErrTypePermanent, nil)
	}
	cfg, err := a.Store.InboxConfig(ctx, brand)
	if errors.Is(err, store.ErrNotFound) {
		return DispatchResult{}, temporal.NewNonRetryableApplicationError("brand "+brand+" does not exist", ErrTypeNotFound, err)
	}
	if err != nil {
		return DispatchResult{}, err
	}
	items, err := a.Store.UnstartedInboxItems(ctx, brand, dispatchBatch)
	if err != nil || len(items) == 0 {
		return DispatchResult{}, err
	}
	channels, err := a.Store.Channels(ctx, brand)
	if err != nil {
		return DispatchResult{}, err
	}
	res := DispatchResult{More: len(items) == dispatchBatch}
	for _, it := range items {
		item := InboxItemOf(it, cfg, channels)
		if err := a.Inbox.StartInboxItem(ctx, item); err != nil {
			return res, fmt.Errorf("start inbox item %s: %w", it.ID, err)
		}
		if err := a.Store.MarkInboxStarted(ctx, it.ID, a.now()); err != nil {
			return res, err
		}
		res.Started++
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, res.Started)
		}
	}
	a.logger().Info("inbox items started", "brand", brand, "started", res.Started, "more", res.More)
	return res, nil
}

// excerptBytes bounds the mention text an item's workflow carries.
const excerptBytes = 280

// InboxItemOf is the workflow input of a stored item under the brand's
// set-up: its policy, and the channel that answers it.
func InboxItemOf(it store.InboxItem, cfg *inbox.Config, channels []store.Channel) inbox.Item {
	m := it.Mention
	item := inbox.Item{ID: it.ID, Brand: it.Brand, Source: m.Source, ExternalID: m.ExternalID, Author: m.Author.Handle,
		Followers: m.Author.Followers, Excerpt: inbox.Excerpt(m.Text, excerptBytes), URL: m.URL, Rule: it.Rule, Kind: it.Kind,
		Priority: it.Priority, OpenedAt: it.OpenedAt.UTC(), DueAt: it.DueAt.UTC(), Policy: cfg.PolicyFor(it.Priority)}
	if ch, ok := ReplyChannel(cfg, channels, m.Source); ok {
		item.ReplyChannelID, item.ReplyChannel = ch.ID, ch.Name
	}
	return item
}

// ReplyChannel picks the brand channel that answers mentions from a
// source: the one the set-up names, or the first active one on the
// platform the source is named after.
func ReplyChannel(cfg *inbox.Config, channels []store.Channel, source string) (store.Channel, bool) {
	if name, ok := cfg.ReplyChannels[source]; ok {
		for _, ch := range channels {
			if ch.Name == name && ch.Status == "active" {
				return ch, true
			}
		}
		return store.Channel{}, false
	}
	for _, ch := range channels {
		if ch.Platform == source && ch.Status == "active" {
			return ch, true
		}
	}
	return store.Channel{}, false
}

// RecordInboxItem writes an item's state to its projection, for lists and
// KPIs. Older states never overwrite newer ones.
func (a *Activities) RecordInboxItem(ctx context.Context, u inbox.Update) error {
	return a.Store.RecordInboxItem(ctx, u)
}
