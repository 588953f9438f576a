// Package activities is where workflows touch the world: the database, the
// platforms, the notifiers. Every activity is idempotent, because Temporal
// may run it more than once.
package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/contentcheck"
	"github.com/cmo-dev/cmo/notify"
	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/telemetry"
)

// Activities holds the dependencies of every activity. The worker registers
// one filled instance; workflows call its methods through a nil pointer.
type Activities struct {
	Store     *store.Store
	Platforms platforms.Registry
	Checker   ContentChecker
	// Notifiers deliver notifications by route kind; a kind without one
	// leaves its targets unrouted.
	Notifiers notify.Senders
	// PerChannel caps concurrent platform calls per channel (default 4):
	// networks throttle bursts from one account, and a brand's many
	// campaigns firing at the same minute should queue, not trip limits.
	PerChannel int
	Log        *slog.Logger
	Now        func() time.Time
	// Playbooks is the library brand monitors take crisis playbooks from.
	Playbooks *playbooks.Library
	// Crises opens crisis workflows for detections.
	Crises CrisisStarter
	// Campaigns tells a brand's running campaigns that a freeze began or
	// was lifted.
	Campaigns CampaignSignaller
	// Inbox starts inbox items' workflows.
	Inbox InboxStarter
	// LinkBase is the public base URL at which the API serves tracked
	// links (GET /l/{code}); empty leaves links in posts as written.
	LinkBase string
	// Metrics counts posts published and refused, and how fast crises
	// are detected; nil counts nothing.
	Metrics *telemetry.Metrics
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Error types carried in Temporal application errors, so workflows can
// tell failures apart without parsing messages.
const (
	ErrTypePermanent   = "Permanent"
	ErrTypeAuth        = "ChannelAuth"
	ErrTypeRateLimited = "RateLimited"
	ErrTypeNotFound    = "NotFound"
	// ErrTypeBusy means another attempt holds the post's or the channel's
	// lease; retried after a short wait.
	ErrTypeBusy = "Busy"
)

// leaseTTL is how long a publish lease lasts without renewal; heartbeats
// renew it, so only a dead worker's lease runs out.
const leaseTTL = 6 * time.Second

// PublishInput names what to post where. It carries ids and text, never
// credentials.
type PublishInput struct {
	CampaignID  string `json:"campaign_id"`
	StepID      string `json:"step_id"`
	ChannelID   string `json:"channel_id"`
	Text        string `json:"text"`
	ContentHash string `json:"content_hash"`
	// Media are attachments by URL (never credentials).
	Media []platforms.Media `json:"media,omitempty"`
	// InReplyTo is the platform's id of the post this one answers.
	InReplyTo string `json:"in_reply_to,omitempty"`
	// TrackLinks replaces the post's links with tracked short links
	// (campaign posts, when a public base URL is configured).
	TrackLinks bool `json:"track_links,omitempty"`
}

// Key is the business key of a post: one campaign step posts at most once
// on one channel.
func (in PublishInput) Key() string {
	return in.CampaignID + "/" + in.StepID + "/" + in.ChannelID
}

// PublishResult is the platform's receipt.
type PublishResult struct {
	ChannelID   string    `json:"channel_id"`
	PostID      string    `json:"post_id"`
	URL         string    `json:"url"`
	PublishedAt time.Time `json:"published_at"`
	// Recovered is true when the post was found already published, by the
	// ledger or by reading the channel back, instead of posted again.
	Recovered bool `json:"recovered,omitempty"`
}

// readBackLimit is how many recent posts are read back to look for one
// whose outcome was unknown. A busy channel (a brand running many
// campaigns) can publish dozens of posts while a retry waits, so this
// reaches well past one page; connectors paginate to fill it.
const readBackLimit = 400

// Publish posts text on a channel exactly once for its business key. The
// ledger records the attempt before the platform call; when an earlier
// attempt may have reached the platform, the channel is read back first.
func (a *Activities) Publish(ctx context.Context, in PublishInput) (PublishResult, error) {
	defer heartbeatWhile(ctx)()
	entry, err := a.Store.LedgerBegin(ctx, store.LedgerEntry{
		Key: in.Key(), CampaignID: in.CampaignID, StepID: in.StepID, ChannelID: in.ChannelID, ContentHash: in.ContentHash,
	})
	if err != nil {
		return PublishResult{}, err
	}
	if entry.Status == store.LedgerPublished {
		return PublishResult{ChannelID: in.ChannelID, PostID: entry.RemoteID, URL: entry.RemoteURL,
			PublishedAt: deref(entry.PublishedAt), Recovered: true}, nil
	}
	if entry.Status == store.LedgerFailed {
		return PublishResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("publish %s failed permanently earlier: %s", in.Key(), entry.LastError), ErrTypePermanent, nil)
	}
	ch, err := a.Store.Channel(ctx, in.ChannelID)
	if errors.Is(err, store.ErrNotFound) {
		return PublishResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("channel %s does not exist", in.ChannelID), ErrTypeNotFound, nil)
	} else if err != nil {
		return PublishResult{}, err
	}
	if ch.Status != "active" {
		return PublishResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("channel %s (%s) is %s", ch.Name, ch.ID, ch.Status), ErrTypeAuth, nil)
	}
	conn, err := a.Platforms.Get(ch.Platform)
	if err != nil {
		return PublishResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePermanent, nil)
	}
	if in.Text, err = a.trackLinks(ctx, in, ch); err != nil {
		return PublishResult{}, err
	}
	if msg := overLimit(ch, in); msg != "" {
		_ = a.Store.LedgerFailure(ctx, in.Key(), msg, true)
		a.Metrics.PostFailed(ch.Platform, platforms.Permanent.String())
		return PublishResult{}, temporal.NewNonRetryableApplicationError(msg, ErrTypePermanent, nil)
	}
	release, err := a.lease(ctx, in.Key(), ch.ID)
	if err != nil {
		return PublishResult{}, err
	}
	defer release()
	acct, err := a.Store.ChannelAccount(ctx, ch)
	if err != nil {
		return PublishResult{}, err
	}

	if entry.Attempts > 0 {
		// An earlier attempt started and did not record its outcome: the
		// post may be live. Look before posting again.
		activity.RecordHeartbeat(ctx, "reading back "+ch.Name)
		if found, ok, err := a.findPosted(ctx, conn, acct, in.Text, entry.FirstAttemptAt); err != nil {
			return PublishResult{}, a.classify(ctx, in.Key(), ch, err)
		} else if ok {
			if err := a.Store.LedgerPublished(ctx, in.Key(), found.ID, found.URL, found.At); err != nil {
				return PublishResult{}, err
			}
			// The attempt that posted it never got this far.
			a.Metrics.PostPublished(ch.Platform)
			return PublishResult{ChannelID: in.ChannelID, PostID: found.ID, URL: found.URL, PublishedAt: found.At, Recovered: true}, nil
		}
	}

	pub, err := conn.Publish(ctx, acct, platforms.Post{Text: in.Text, IdempotencyKey: idempotencyKey(in.Key()), Media: in.Media,
		InReplyTo: in.InReplyTo})
	if err != nil {
		return PublishResult{}, a.classify(ctx, in.Key(), ch, err)
	}
	if err := a.Store.LedgerPublished(ctx, in.Key(), pub.ID, pub.URL, pub.At); err != nil {
		// The post is live but unrecorded; the retry finds it by reading
		// back, and counts it then.
		return PublishResult{}, err
	}
	a.Metrics.PostPublished(ch.Platform)
	a.logger().Info("published", "key", in.Key(), "channel", ch.Name, "post", pub.ID)
	return PublishResult{ChannelID: in.ChannelID, PostID: pub.ID, URL: pub.URL, PublishedAt: pub.At}, nil
}

func (a *Activities) findPosted(ctx context.Context, conn platforms.Connector, acct platforms.Account, text string, since time.Time) (platforms.Remote, bool, error) {
	recent, err := conn.Recent(ctx, acct, readBackLimit)
	if err != nil {
		return platforms.Remote{}, false, err
	}
	// Allow for clock skew between us and the platform.
	since = since.Add(-5 * time.Minute)
	for _, r := range recent {
		if r.At.Before(since) {
			break // newest first: everything further is older still
		}
		if sameText(r.Text, text) {
			return r, true, nil
		}
	}
	return platforms.Remote{}, false, nil
}

// classify turns a platform error into the Temporal error that makes the
// right retry happen: none for permanent and auth failures, a wait until
// the platform's reset time for rate limits, back-off otherwise.
func (a *Activities) classify(ctx context.Context, key string, ch store.Channel, err error) error {
	kind := platforms.KindOf(err)
	a.Metrics.PostFailed(ch.Platform, kind.String())
	if kind == platforms.Auth {
		a.needsReconnect(ctx, ch, err)
	}
	permanent := kind == platforms.Permanent || kind == platforms.Auth
	if lerr := a.Store.LedgerFailure(ctx, key, err.Error(), permanent); lerr != nil {
		a.logger().Warn("record publish failure", "key", key, "error", lerr)
	}
	switch kind {
	case platforms.Permanent:
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePermanent, nil)
	case platforms.Auth:
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeAuth, nil)
	case platforms.RateLimited:
		var pe *platforms.Error
		delay := time.Minute
		if errors.As(err, &pe) && pe.RetryAfter > 0 {
			delay = pe.RetryAfter
		}
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrTypeRateLimited,
			temporal.ApplicationErrorOptions{NextRetryDelay: delay})
	}
	return err
}

// overLimit says how a post breaks its platform's attachment or length
// limit, naming the channel and the limit; empty when it fits. Refusing
// here beats sending a post the platform refuses in its own words.
func overLimit(ch store.Channel, in PublishInput) string {
	lim, ok := contentcheck.Limits(ch.Platform)
	if !ok {
		return ""
	}
	if lim.MaxMedia > 0 && len(in.Media) > lim.MaxMedia {
		return fmt.Sprintf("%s (%s) takes at most %d attachments; this post has %d", ch.Name, ch.Platform, lim.MaxMedia, len(in.Media))
	}
	if n := contentcheck.Length(ch.Platform, in.Text); lim.MaxChars > 0 && n > lim.MaxChars {
		return fmt.Sprintf("text for %s (%s) is %d characters as %s counts them; the limit is %d", ch.Name, ch.Platform, n, lim.Name, lim.MaxChars)
	}
	return ""
}

// lease takes the post's lease (one attempt per business key at a time:
// two attempts can never both read back "not posted" and both post) and
// one of the channel's slots. Without them the attempt waits and retries.
func (a *Activities) lease(ctx context.Context, key, channelID string) (func(), error) {
	holder := key
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		holder = fmt.Sprintf("%s/%s/%d", info.WorkflowExecution.ID, info.ActivityID, info.Attempt)
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := a.Store.ReleaseLeases(rctx, holder); err != nil {
			a.logger().Warn("release publish leases", "holder", holder, "error", err)
		}
	}
	busy := func(what string) error {
		release()
		return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s is busy; retrying shortly", what), ErrTypeBusy,
			temporal.ApplicationErrorOptions{NextRetryDelay: 2 * time.Second})
	}
	ok, err := a.Store.AcquireLease(ctx, "post:"+key, holder, leaseTTL)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, busy("another attempt at " + key)
	}
	slots := a.PerChannel
	if slots <= 0 {
		slots = 4
	}
	for i := 0; i < slots; i++ {
		ok, err := a.Store.AcquireLease(ctx, fmt.Sprintf("channel:%s:%d", channelID, i), holder, leaseTTL)
		if err != nil {
			release()
			return nil, err
		}
		if ok {
			stop := a.renewing(ctx, holder)
			return func() { stop(); release() }, nil
		}
	}
	return nil, busy("channel " + channelID)
}

// renewing keeps holder's leases alive until stop is called.
func (a *Activities) renewing(ctx context.Context, holder string) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(leaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.Store.RenewLeases(ctx, holder, leaseTTL); err != nil && ctx.Err() == nil {
					a.logger().Warn("renew publish leases", "holder", holder, "error", err)
				}
			}
		}
	}()
	return func() { close(done) }
}

// heartbeatInterval is how often a running activity tells Temporal it is
// alive. With a heartbeat timeout a few times longer, a worker that dies
// mid-call is noticed in seconds, not at the start-to-close timeout.
const heartbeatInterval = 2 * time.Second

// heartbeatWhile heartbeats until the returned stop function is called.
func heartbeatWhile(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(heartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// needsReconnect puts a channel whose credentials the platform refused
// into the reconnect state and tells the brand: no retry fixes a revoked
// token, a person has to reconnect the account.
func (a *Activities) needsReconnect(ctx context.Context, ch store.Channel, cause error) {
	if err := a.Store.SetChannelStatus(ctx, ch.ID, "reconnect", cause.Error()); err != nil {
		a.logger().Warn("mark channel for reconnection", "channel", ch.ID, "error", err)
		return
	}
	msg := fmt.Sprintf("Channel %s (%s @%s) needs reconnecting: %v", ch.Name, ch.Platform, ch.Handle, cause)
	if _, err := a.Store.AddNotification(ctx, "reconnect/"+ch.ID+"/"+shortHash(cause.Error()), store.Notification{
		BrandID: ch.BrandID, Target: "role:admin", Message: msg,
	}); err != nil {
		a.logger().Warn("notify reconnect", "channel", ch.ID, "error", err)
	}
}

// sameText compares a post read back with the text sent, ignoring the
// whitespace platforms trim or fold (Mastodon strips the ends, some
// networks turn line breaks into paragraphs).
func sameText(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

func idempotencyKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func (a *Activities) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}
