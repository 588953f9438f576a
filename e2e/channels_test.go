package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBrandsAndChannels(t *testing.T) {
	s := startStack(t)
	a := api{t: t, base: s.APIURL}
	token, err := s.Store.ChannelSecrets(context.Background(), "ch_demo_news")
	require.NoError(t, err)

	code, body := a.do("POST", "/v1/brands", map[string]any{"id": "acme", "name": "Acme", "timezone": "Mars/Base"})
	require.Equal(t, 422, code, body)
	require.Equal(t, "timezone", body["field"])
	code, body = a.do("POST", "/v1/brands", map[string]any{"id": "acme", "name": "Acme", "timezone": "Europe/Madrid"})
	require.Equal(t, 201, code, body)

	code, body = a.do("POST", "/v1/brands/acme/channels", map[string]any{"name": "news", "platform": "myspace", "handle": "acme"})
	require.Equal(t, 422, code, body)
	require.Equal(t, "platform", body["field"])
	code, body = a.do("POST", "/v1/brands/nope/channels", map[string]any{"name": "news", "platform": "sandbox", "handle": "acme"})
	require.Equal(t, 404, code, body)
	require.Equal(t, "brand", body["field"])

	code, body = a.do("POST", "/v1/brands/acme/channels", map[string]any{
		"name": "news", "platform": "sandbox", "handle": "demo_news", "credentials": map[string]string{"token": token["token"]},
	})
	require.Equal(t, 201, code, body)
	require.Equal(t, "ch_acme_news", body["id"])
	code, body = a.do("POST", "/v1/brands/acme/channels", map[string]any{
		"name": "stale", "platform": "sandbox", "handle": "demo_care", "credentials": map[string]string{"token": "revoked-token"},
	})
	require.Equal(t, 201, code, body)

	code, body = a.do("GET", "/v1/brands/acme/channels", nil)
	require.Equal(t, 200, code)
	raw, _ := json.Marshal(body)
	require.False(t, strings.Contains(string(raw), token["token"]), "tokens are never returned")
	require.NotContains(t, string(raw), "revoked-token")
	require.Len(t, body["channels"], 2)

	code, body = a.do("POST", "/v1/channels/ch_acme_news/test", nil)
	require.Equal(t, 200, code, body)
	require.Equal(t, true, body["ok"], body)
	require.Equal(t, "demo_news", body["account"].(map[string]any)["handle"])

	code, body = a.do("POST", "/v1/channels/ch_acme_stale/test", nil)
	require.Equal(t, 200, code, body)
	require.Equal(t, false, body["ok"])
	require.Equal(t, "auth", body["kind"])
	require.NotContains(t, body["error"], "revoked-token")
	ch, err := s.Store.Channel(context.Background(), "ch_acme_stale")
	require.NoError(t, err)
	require.Equal(t, "reconnect", ch.Status)

	code, body = a.do("POST", "/v1/channels/ch_acme_news/disable", nil)
	require.Equal(t, 200, code, body)
	require.Equal(t, "disabled", body["status"])
	code, body = a.do("POST", "/v1/campaigns", map[string]any{"brand": "acme", "playbook": "first-campaign", "params": map[string]any{"product": "Tea"}})
	require.Equal(t, 422, code, "no active channel left: %v", body)
	require.Equal(t, "brand", body["field"])
	require.Contains(t, body["detail"], "no active channel")

	code, _ = a.do("POST", "/v1/channels/ch_acme_news/enable", nil)
	require.Equal(t, 200, code)
	code, body = a.do("POST", "/v1/campaigns", map[string]any{"id": "acme-1", "brand": "acme", "playbook": "first-campaign", "params": map[string]any{"product": "Tea"}})
	require.Equal(t, 201, code, body)
	code, body = a.do("POST", "/v1/channels/nope/test", nil)
	require.Equal(t, 404, code, body)
}
