package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/store"
)

const slackURL = "https://hooks.slack.com/services/T0001/B0001/route-secret-xyz"

func TestNotificationRouteSecretsAreSealedAndNeverListed(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	created, err := s.UpsertNotificationRoute(ctx, store.NotificationRoute{BrandID: "acme", Target: "slack:oncall", Kind: "slack"},
		map[string]string{"url": slackURL})
	require.NoError(t, err)
	require.True(t, created)
	created, err = s.UpsertNotificationRoute(ctx, store.NotificationRoute{BrandID: "acme", Target: "email:comms-leads", Kind: "email",
		Config: store.RouteConfig{Addresses: []string{"press@acme.example", "Núria <nuria@acme.example>"}}}, nil)
	require.NoError(t, err)
	require.True(t, created)

	var raw []byte
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT secret FROM notification_routes WHERE target = 'slack:oncall'`).Scan(&raw))
	require.NotEmpty(t, raw)
	require.NotContains(t, string(raw), "route-secret-xyz", "stored sealed, never in clear")

	secrets, err := s.NotificationRouteSecrets(ctx, "acme", "slack:oncall")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"url": slackURL}, secrets)
	secrets, err = s.NotificationRouteSecrets(ctx, "acme", "email:comms-leads")
	require.NoError(t, err)
	require.Empty(t, secrets)

	other, err := sealbox.New(bytes.Repeat([]byte{2}, 32))
	require.NoError(t, err)
	_, err = store.New(s.Pool(), other).NotificationRouteSecrets(ctx, "acme", "slack:oncall")
	require.ErrorIs(t, err, sealbox.ErrOpen)

	// A sealed value moved to another row does not open there.
	_, err = s.UpsertNotificationRoute(ctx, store.NotificationRoute{BrandID: "acme", Target: "slack:other", Kind: "slack"}, map[string]string{"url": "x"})
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `UPDATE notification_routes SET secret = $1 WHERE target = 'slack:other'`, raw)
	require.NoError(t, err)
	_, err = s.NotificationRouteSecrets(ctx, "acme", "slack:other")
	require.ErrorIs(t, err, sealbox.ErrOpen)

	routes, err := s.NotificationRoutes(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, routes, 3)
	require.Equal(t, "email:comms-leads", routes[0].Target, "ordered by target")
	require.Equal(t, []string{"press@acme.example", "Núria <nuria@acme.example>"}, routes[0].Config.Addresses)
	listed, err := json.Marshal(routes)
	require.NoError(t, err)
	require.NotContains(t, string(listed), "route-secret-xyz")
	require.NotContains(t, string(listed), "hooks.slack.com")

	one, err := s.NotificationRoute(ctx, "acme", "slack:oncall")
	require.NoError(t, err)
	require.Equal(t, "slack", one.Kind)
	_, err = s.NotificationRoute(ctx, "acme", "slack:nobody")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.NotificationRouteSecrets(ctx, "acme", "slack:nobody")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestNotificationRouteUpsertAndDelete(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	r := store.NotificationRoute{BrandID: "acme", Target: "role:comms-director", Kind: "pagerduty"}
	created, err := s.UpsertNotificationRoute(ctx, r, map[string]string{"routing_key": "k1"})
	require.NoError(t, err)
	require.True(t, created)

	r.Kind = "email"
	r.Config.Addresses = []string{"director@acme.example"}
	created, err = s.UpsertNotificationRoute(ctx, r, nil)
	require.NoError(t, err)
	require.False(t, created, "the second put replaces the route")
	got, err := s.NotificationRoute(ctx, "acme", r.Target)
	require.NoError(t, err)
	require.Equal(t, "email", got.Kind)
	require.True(t, got.UpdatedAt.After(got.CreatedAt))
	secrets, err := s.NotificationRouteSecrets(ctx, "acme", r.Target)
	require.NoError(t, err)
	require.Empty(t, secrets, "the old kind's secret is gone with it")

	_, err = s.UpsertNotificationRoute(ctx, store.NotificationRoute{BrandID: "acme", Target: "slack:x", Kind: "carrier-pigeon"}, nil)
	require.Error(t, err, "the kind is checked")
	_, err = s.UpsertNotificationRoute(ctx, store.NotificationRoute{BrandID: "nobody", Target: "slack:x", Kind: "slack"}, nil)
	require.Error(t, err, "the brand must exist")

	require.NoError(t, s.DeleteNotificationRoute(ctx, "acme", r.Target))
	require.ErrorIs(t, s.DeleteNotificationRoute(ctx, "acme", r.Target), store.ErrNotFound)
}

func TestDeliveryState(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	n := store.Notification{BrandID: "acme", CampaignID: "c1", StepID: "page-1-1", Target: "slack:oncall", Message: "spike"}
	added, err := s.AddNotification(ctx, "k1", n)
	require.NoError(t, err)
	require.True(t, added)

	d, err := s.NotificationDelivery(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, store.DeliveryPending, d.Status)
	require.Zero(t, d.Attempts)
	require.Nil(t, d.SentAt)

	require.NoError(t, s.RecordDelivery(ctx, "k1", store.DeliveryUnrouted, "no route"))
	d, err = s.NotificationDelivery(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, store.DeliveryUnrouted, d.Status)
	require.Zero(t, d.Attempts, "nothing was sent")

	require.NoError(t, s.RecordDelivery(ctx, "k1", store.DeliveryPending, "slack 500"))
	require.NoError(t, s.RecordDelivery(ctx, "k1", store.DeliverySent, ""))
	d, err = s.NotificationDelivery(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, store.DeliverySent, d.Status)
	require.Equal(t, 2, d.Attempts)
	require.Empty(t, d.LastError)
	require.NotNil(t, d.SentAt)
	require.NotNil(t, d.LastAttemptAt)

	require.NoError(t, s.RecordDelivery(ctx, "k1", store.DeliveryPending, "late attempt timed out"))
	d, err = s.NotificationDelivery(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, store.DeliverySent, d.Status, "sent stays sent")
	require.Equal(t, 2, d.Attempts)

	require.ErrorIs(t, s.RecordDelivery(ctx, "nope", store.DeliverySent, ""), store.ErrNotFound)

	_, err = s.AddNotification(ctx, "k2", store.Notification{BrandID: "acme", Target: "pagerduty:x", Message: "page"})
	require.NoError(t, err)
	require.Error(t, s.RecordDelivery(ctx, "k2", "lost", ""), "the state is checked")
	require.NoError(t, s.RecordDelivery(ctx, "k2", store.DeliveryFailed, "pagerduty 400: invalid event"))
	all, err := s.Deliveries(ctx, "acme", "", 10)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, "pagerduty:x", all[0].Target, "newest first")
	failed, err := s.Deliveries(ctx, "acme", store.DeliveryFailed, 10)
	require.NoError(t, err)
	require.Len(t, failed, 1)
	require.Equal(t, "pagerduty 400: invalid event", failed[0].LastError)
}
