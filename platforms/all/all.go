// Package all builds the registry of every connector cmo ships, so that
// the worker, the API and the dev stack wire the same set.
package all

import (
	"net/http"
	"time"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/bluesky"
	"github.com/cmo-dev/cmo/platforms/linkedin"
	"github.com/cmo-dev/cmo/platforms/mastodon"
	"github.com/cmo-dev/cmo/platforms/meta"
	"github.com/cmo-dev/cmo/platforms/sandbox"
	"github.com/cmo-dev/cmo/platforms/webhook"
	"github.com/cmo-dev/cmo/platforms/x"
)

// Options configures the connectors.
type Options struct {
	// SandboxURL is where the sandbox platform is served (…/sandbox).
	SandboxURL string
	// HTTP is the client connectors use; nil gets one with a 30 s timeout,
	// shorter than a publish activity's start-to-close timeout, so an
	// attempt gives up before Temporal starts the next one.
	HTTP *http.Client
}

// Registry returns a connector for every platform.
func Registry(o Options) platforms.Registry {
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	// X and LinkedIn app credentials (for refreshing tokens) come from each
	// channel's secrets (client_id, client_secret): one cmo can serve
	// brands that registered their own apps.
	return platforms.Registry{
		sandbox.Platform:       sandbox.NewClient(o.SandboxURL, hc),
		mastodon.Platform:      mastodon.New(hc),
		bluesky.Platform:       bluesky.New(hc),
		x.Platform:             x.New(hc, "", ""),
		linkedin.Platform:      linkedin.New(hc, "", ""),
		meta.FacebookPlatform:  meta.NewFacebook(hc),
		meta.InstagramPlatform: meta.NewInstagram(hc),
		webhook.Platform:       webhook.New(hc),
	}
}
