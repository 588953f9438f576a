package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/store"
)

// history fetches a workflow's full event history.
func history(t *testing.T, c client.Client, workflowID string) *historypb.History {
	t.Helper()
	ctx := context.Background()
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	require.NotEmpty(t, h.Events)
	return h
}

// requireNoSecrets fails if any channel credential of the stack's store
// appears anywhere in the workflow's history: inputs, results, errors,
// memos, search attributes. The Temporal UI shows all of those.
func requireNoSecrets(t *testing.T, s *store.Store, h *historypb.History) {
	t.Helper()
	raw, err := protojson.Marshal(h)
	require.NoError(t, err)
	text := string(raw)
	for _, ch := range store.DemoChannels {
		secrets, err := s.ChannelSecrets(context.Background(), ch.ID)
		require.NoError(t, err)
		for name, v := range secrets {
			require.NotEmpty(t, v)
			require.False(t, strings.Contains(text, v), "secret %s of channel %s appears in the history", name, ch.ID)
		}
	}
}

// requireNoSecretsAnywhere scans the history of every workflow in the
// namespace for every channel credential of every brand.
func requireNoSecretsAnywhere(t *testing.T, c client.Client, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	var secrets []string
	brands, err := s.Brands(ctx)
	require.NoError(t, err)
	for _, b := range brands {
		chs, err := s.Channels(ctx, b.ID)
		require.NoError(t, err)
		for _, ch := range chs {
			sec, err := s.ChannelSecrets(ctx, ch.ID)
			require.NoError(t, err)
			for _, v := range sec {
				if len(v) >= 8 {
					secrets = append(secrets, v)
				}
			}
		}
		routes, err := s.NotificationRoutes(ctx, b.ID)
		require.NoError(t, err)
		for _, r := range routes {
			sec, err := s.NotificationRouteSecrets(ctx, b.ID, r.Target)
			require.NoError(t, err)
			for _, v := range sec {
				if len(v) >= 8 {
					secrets = append(secrets, v)
				}
			}
		}
	}
	sources, err := s.MentionSourceNames(ctx)
	require.NoError(t, err)
	for _, name := range sources {
		_, sec, err := s.MentionSourceSecret(ctx, name)
		require.NoError(t, err)
		secrets = append(secrets, string(sec))
	}
	require.NotEmpty(t, secrets)
	// Every API key the tests sent, and anything shaped like one.
	stackKeys.Lock()
	for _, k := range stackKeys.admin {
		secrets = append(secrets, k)
	}
	for _, byActor := range stackKeys.actors {
		for _, k := range byActor {
			secrets = append(secrets, k)
		}
	}
	stackKeys.Unlock()
	var token []byte
	scanned := 0
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		require.NoError(t, err)
		for _, ex := range resp.GetExecutions() {
			h := history(t, c, ex.GetExecution().GetWorkflowId())
			raw, err := protojson.Marshal(h)
			require.NoError(t, err)
			for _, sec := range secrets {
				require.False(t, strings.Contains(string(raw), sec), "a secret appears in the history of %s", ex.GetExecution().GetWorkflowId())
			}
			require.False(t, apiKeyShape.Match(raw), "something shaped like an API key appears in the history of %s: %s",
				ex.GetExecution().GetWorkflowId(), apiKeyShape.Find(raw))
			scanned++
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	t.Logf("scanned %d workflow histories for %d secrets", scanned, len(secrets))
}

// recordHistory writes a history for the replay tests of the workflows
// package when CMO_RECORD_HISTORIES names a file name prefix, e.g.
// CMO_RECORD_HISTORIES=campaign-v1 go test ./e2e -run TestCampaignEndToEnd.
func recordHistory(t *testing.T, name string, h *historypb.History) {
	prefix := os.Getenv("CMO_RECORD_HISTORIES")
	if prefix == "" {
		return
	}
	raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	require.NoError(t, err)
	path := filepath.Join("..", "workflows", "testdata", prefix+"-"+name+".json")
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	t.Logf("recorded %s", path)
}

// apiKeyShape matches an API key: the prefix and 32 random bytes in
// base64url.
var apiKeyShape = regexp.MustCompile(regexp.QuoteMeta(access.KeyPrefix) + `[A-Za-z0-9_-]{43}`)
