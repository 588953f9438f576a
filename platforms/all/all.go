// Package all builds the registry of every connector cmo ships, so that
// the worker, the API and the dev stack wire the same set.
package all

import (
	"net/http"
	"time"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/bluesky"
	"github.com/cmo-dev/cmo/platforms/mastodon"
	"github.com/cmo-dev/cmo/platforms/sandbox"
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
	return platforms.Registry{
		sandbox.Platform:  sandbox.NewClient(o.SandboxURL, hc),
		mastodon.Platform: mastodon.New(hc),
		bluesky.Platform:  bluesky.New(hc),
	}
}
