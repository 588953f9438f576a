// Package platforms defines what cmo needs from a social network or a
// notifier, behind one small interface, and the errors that tell the
// activities whether to retry, wait, or stop.
package platforms

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Account is a channel as a connector sees it: its identity and decrypted
// secrets. It is built inside an activity and never leaves it, so secrets
// never reach a workflow payload.
type Account struct {
	ChannelID string
	Platform  string
	Handle    string
	Secrets   map[string]string
	// Config is the channel's non-secret settings (base URL of a Mastodon
	// instance, LinkedIn organisation URN, Facebook page id, webhook URL).
	Config map[string]string
	// SaveSecrets stores secrets a connector renewed (a refreshed OAuth
	// token, a new session), sealed, for the next call. May be nil in tests.
	SaveSecrets func(ctx context.Context, secrets map[string]string) error
}

// AccountInfo is what a platform says about the account behind a channel.
type AccountInfo struct {
	ID          string `json:"id"`
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name,omitempty"`
	Followers   int64  `json:"followers"`
	// At is when the platform counted the followers, where it says;
	// zero otherwise.
	At time.Time `json:"at,omitempty"`
}

// Post is what to publish.
type Post struct {
	Text string
	// IdempotencyKey is derived from the business key (campaign, step,
	// channel); platforms that honour one (Mastodon, the sandbox) use it
	// to drop a repeated request.
	IdempotencyKey string
	InReplyTo      string
	// Media are images or videos to attach, by URL; each connector fetches
	// them (FetchMedia) and uploads them the way its platform wants.
	Media []Media
}

// Media is one attachment.
type Media struct {
	URL string `json:"url"`
	// Alt is the description shown to people who cannot see it.
	Alt string `json:"alt,omitempty"`
}

// Published is the platform's receipt for a post.
type Published struct {
	ID  string    `json:"id"`
	URL string    `json:"url"`
	At  time.Time `json:"at"`
}

// Remote is a post read back from the platform.
type Remote struct {
	ID   string    `json:"id"`
	URL  string    `json:"url"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Metrics are one post's engagement numbers at a moment.
type Metrics struct {
	Impressions int64 `json:"impressions"`
	// Reach is how many accounts saw the post, where the platform says;
	// 0 when it reports impressions only.
	Reach   int64     `json:"reach,omitempty"`
	Likes   int64     `json:"likes"`
	Reposts int64     `json:"reposts"`
	Replies int64     `json:"replies"`
	Clicks  int64     `json:"clicks"`
	At      time.Time `json:"at"`
}

// Connector is one platform's client.
type Connector interface {
	// Publish posts (a reply when Post.InReplyTo is set) and returns the
	// platform's receipt.
	Publish(ctx context.Context, acct Account, p Post) (Published, error)
	// Delete removes a post; deleting one that is already gone is not an error.
	Delete(ctx context.Context, acct Account, postID string) error
	// Recent reads the account's latest posts, newest first, so that a
	// retry after an unknown outcome can find a post that did go out.
	Recent(ctx context.Context, acct Account, limit int) ([]Remote, error)
	// Metrics reads a post's current engagement.
	Metrics(ctx context.Context, acct Account, postID string) (Metrics, error)
	// AccountInfo checks the credentials and reads the account's identity
	// and audience, for "test channel" and community growth.
	AccountInfo(ctx context.Context, acct Account) (AccountInfo, error)
}

// Registry maps platform names to connectors.
type Registry map[string]Connector

// Get returns the connector for a platform.
func (r Registry) Get(platform string) (Connector, error) {
	c, ok := r[platform]
	if !ok {
		return nil, &Error{Platform: platform, Kind: Permanent, Msg: "no connector for this platform is configured"}
	}
	return c, nil
}

// ErrorKind tells the caller what to do about a failed call.
type ErrorKind int

const (
	// Transient failures (5xx, network) are retried with back-off.
	Transient ErrorKind = iota
	// Permanent failures (validation, 4xx) are not retried.
	Permanent
	// Auth failures mean the token is invalid or expired and could not be
	// refreshed: the channel needs reconnecting.
	Auth
	// RateLimited failures are retried after RetryAfter, never sooner.
	RateLimited
)

func (k ErrorKind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case Auth:
		return "auth"
	case RateLimited:
		return "rate-limited"
	}
	return "unknown"
}

// Error is a failed platform call, classified.
type Error struct {
	Platform   string
	Kind       ErrorKind
	Status     int
	Msg        string
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Platform, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %s", e.RetryAfter.Round(time.Second))
	}
	return s
}

// KindOf classifies any error: platform errors by their kind, everything
// else (network errors, timeouts) as transient.
func KindOf(err error) ErrorKind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return Transient
}
