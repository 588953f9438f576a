package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/store"
)

func TestFreezeSetAndLiftAreIdempotent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "other", Name: "Other"}))
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

	f := store.Freeze{CrisisID: "acme-spike-1", Brand: "acme", Scope: "tags", Tags: []string{"promo", "humour"},
		OnUnfreeze: "drop", Reapprove: true, Actor: "negative-spike", Reason: "severity high", StartedAt: t0}
	got, err := s.SetFreeze(ctx, f)
	require.NoError(t, err)
	require.True(t, got.Active())
	require.Equal(t, []string{"promo", "humour"}, got.Tags)
	require.Empty(t, got.Channels)
	require.True(t, got.StartedAt.Equal(t0))

	// The activity runs again later: the freeze keeps its start.
	again := f
	again.StartedAt, again.Actor = t0.Add(time.Minute), "someone-else"
	got, err = s.SetFreeze(ctx, again)
	require.NoError(t, err)
	require.True(t, got.StartedAt.Equal(t0), "a retried freeze does not move its start")
	require.Equal(t, "negative-spike", got.Actor)

	_, err = s.SetFreeze(ctx, store.Freeze{CrisisID: "other-1", Brand: "other", Scope: "brand", StartedAt: t0.Add(time.Hour)})
	require.NoError(t, err)
	_, err = s.SetFreeze(ctx, store.Freeze{CrisisID: "acme-outage-2", Brand: "acme", Scope: "markets", Markets: []string{"es"}, StartedAt: t0.Add(2 * time.Hour)})
	require.NoError(t, err)

	active, err := s.ActiveFreezes(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, active, 2)
	require.Equal(t, "acme-spike-1", active[0].CrisisID, "oldest first")
	require.Equal(t, "reschedule", active[1].OnUnfreeze, "reschedule unless told otherwise")
	require.Equal(t, []string{"es"}, active[1].Markets)

	lifted, err := s.LiftFreeze(ctx, "acme-spike-1", "nuria", "calm again", t0.Add(3*time.Hour))
	require.NoError(t, err)
	require.True(t, lifted)
	lifted, err = s.LiftFreeze(ctx, "acme-spike-1", "nuria", "calm again", t0.Add(4*time.Hour))
	require.NoError(t, err)
	require.False(t, lifted, "lifting twice changes nothing")
	lifted, err = s.LiftFreeze(ctx, "never-frozen", "", "", t0)
	require.NoError(t, err)
	require.False(t, lifted)

	one, err := s.Freeze(ctx, "acme-spike-1")
	require.NoError(t, err)
	require.False(t, one.Active())
	require.True(t, one.LiftedAt.Equal(t0.Add(3*time.Hour)), "the first lift is the one kept")
	require.Equal(t, "nuria", one.LiftedBy)
	require.Equal(t, "calm again", one.LiftReason)
	active, err = s.ActiveFreezes(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Equal(t, "acme-outage-2", active[0].CrisisID)

	// Frozen again after the lift: a new start, and no trace of the lift.
	f.StartedAt, f.Actor = t0.Add(5*time.Hour), "jordi"
	got, err = s.SetFreeze(ctx, f)
	require.NoError(t, err)
	require.True(t, got.Active())
	require.True(t, got.StartedAt.Equal(t0.Add(5*time.Hour)))
	require.Equal(t, "jordi", got.Actor)
	require.Empty(t, got.LiftedBy)

	_, err = s.Freeze(ctx, "nobody")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.SetFreeze(ctx, store.Freeze{CrisisID: "x", Brand: "nobody", Scope: "brand"})
	require.ErrorIs(t, err, store.ErrNotFound, "the brand must exist")
	_, err = s.SetFreeze(ctx, store.Freeze{CrisisID: "y", Brand: "acme", Scope: "everything"})
	require.Error(t, err, "the scope is checked")
}
