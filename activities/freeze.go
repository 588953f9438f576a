package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
)

// SignalFreeze is the signal ApplyFreeze sends to every running campaign
// of the brand when a freeze starts or is lifted, so that campaigns held
// at a publish point check again at once (workflows.SignalFreeze is the
// same name).
const SignalFreeze = "freeze"

// FreezeNotice is the freeze signal's payload. Campaigns only take it as a
// cue to look again; it is there for whoever reads the history.
type FreezeNotice struct {
	CrisisID string `json:"crisis_id"`
	Frozen   bool   `json:"frozen"`
}

// CampaignSignaller sends a signal to every running campaign of a brand
// and says how many got it. Listing campaigns needs Temporal's visibility,
// which only the worker's client reaches.
type CampaignSignaller interface {
	SignalRunningCampaigns(ctx context.Context, brand, signal string, arg any) (int, error)
}

// FreezeInput freezes a brand's scheduled posts in a crisis's scope, or
// lifts that freeze. The crisis workflow sends it as its freeze rule
// starts or stops holding, or when someone freezes or lifts by hand.
type FreezeInput struct {
	CrisisID   string   `json:"crisis_id"`
	Brand      string   `json:"brand"`
	Scope      string   `json:"scope"` // brand | channels | tags | markets
	Channels   []string `json:"channels,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Markets    []string `json:"markets,omitempty"`
	OnUnfreeze string   `json:"on_unfreeze,omitempty"` // drop | reschedule
	Reapprove  bool     `json:"reapprove,omitempty"`
	Frozen     bool     `json:"frozen"` // true freezes, false lifts
	Actor      string   `json:"actor,omitempty"`
	Reason     string   `json:"reason,omitempty"`
}

// FreezeResult says how many running campaigns were told.
type FreezeResult struct {
	Signalled int `json:"signalled"`
}

// ApplyFreeze records a freeze (or its lift) and then tells the brand's
// running campaigns, in that order: a campaign that checks because of the
// signal must find the row already there. Both halves may run again on a
// retry: the row keeps its first start, and a second signal only makes
// campaigns check once more.
func (a *Activities) ApplyFreeze(ctx context.Context, in FreezeInput) (FreezeResult, error) {
	if err := checkFreeze(&in); err != nil {
		return FreezeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePermanent, nil)
	}
	if in.Frozen {
		f, err := a.Store.SetFreeze(ctx, store.Freeze{CrisisID: in.CrisisID, Brand: in.Brand, Scope: in.Scope,
			Channels: in.Channels, Tags: in.Tags, Markets: in.Markets, OnUnfreeze: in.OnUnfreeze, Reapprove: in.Reapprove,
			Actor: in.Actor, Reason: in.Reason, StartedAt: a.now()})
		if errors.Is(err, store.ErrNotFound) {
			return FreezeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNotFound, err)
		} else if err != nil {
			return FreezeResult{}, err
		}
		a.logger().Info("freeze", "crisis", in.CrisisID, "brand", in.Brand, "scope", in.Scope, "since", f.StartedAt)
	} else {
		lifted, err := a.Store.LiftFreeze(ctx, in.CrisisID, in.Actor, in.Reason, a.now())
		if err != nil {
			return FreezeResult{}, err
		}
		a.logger().Info("freeze lifted", "crisis", in.CrisisID, "brand", in.Brand, "was_active", lifted)
	}
	if a.Campaigns == nil {
		// Held campaigns still check again on their own timer; they only
		// learn later.
		a.logger().Warn("no campaign signaller: held campaigns notice the change on their next check", "brand", in.Brand)
		return FreezeResult{}, nil
	}
	n, err := a.Campaigns.SignalRunningCampaigns(ctx, in.Brand, SignalFreeze, FreezeNotice{CrisisID: in.CrisisID, Frozen: in.Frozen})
	if err != nil {
		return FreezeResult{}, fmt.Errorf("signal campaigns of %s: %w", in.Brand, err)
	}
	return FreezeResult{Signalled: n}, nil
}

// checkFreeze refuses input no retry can fix and fills in the defaults
// playbooks have (scope brand, on_unfreeze reschedule).
func checkFreeze(in *FreezeInput) error {
	if in.CrisisID == "" {
		return errors.New("freeze needs the crisis id")
	}
	if !playbooks.ValidID(in.Brand) {
		return fmt.Errorf("freeze of crisis %s: brand %q is not a brand id", in.CrisisID, in.Brand)
	}
	if !in.Frozen {
		return nil
	}
	if in.Scope == "" {
		in.Scope = playbooks.FreezeBrand
	}
	var list []string
	switch in.Scope {
	case playbooks.FreezeBrand:
	case playbooks.FreezeChannels:
		list = in.Channels
	case playbooks.FreezeTags:
		list = in.Tags
	case playbooks.FreezeMarkets:
		list = in.Markets
	default:
		return fmt.Errorf("freeze of crisis %s: scope must be one of %v, got %q", in.CrisisID, playbooks.FreezeScopes, in.Scope)
	}
	if in.Scope != playbooks.FreezeBrand && len(list) == 0 {
		return fmt.Errorf("freeze of crisis %s: scope %s needs the %s", in.CrisisID, in.Scope, in.Scope)
	}
	switch in.OnUnfreeze {
	case "":
		in.OnUnfreeze = playbooks.UnfreezeReschedule
	case playbooks.UnfreezeDrop, playbooks.UnfreezeReschedule:
	default:
		return fmt.Errorf("freeze of crisis %s: on_unfreeze must be drop or reschedule, got %q", in.CrisisID, in.OnUnfreeze)
	}
	return nil
}

// FreezeQuery asks whether a post may go out: the campaign's brand, tags
// and market, and the channels the post is for.
type FreezeQuery struct {
	Brand   string             `json:"brand"`
	Tags    []string           `json:"tags,omitempty"`
	Market  string             `json:"market,omitempty"`
	Targets []playbooks.Target `json:"targets"`
}

// FreezeState is the answer: whether a freeze covers the post and, when
// one does, which crisis holds it, since when and what happens on the
// lift. With several freezes over the post, the oldest names the crisis,
// and the strictest settings of all of them apply.
type FreezeState struct {
	Frozen   bool       `json:"frozen"`
	CrisisID string     `json:"crisis_id,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	Scope    string     `json:"scope,omitempty"`
	// OnUnfreeze is drop when any freeze over the post says so.
	OnUnfreeze string `json:"on_unfreeze,omitempty"`
	Reapprove  bool   `json:"reapprove,omitempty"`
	// Channels are the ids of the targets the freezes cover: all of them,
	// unless the freezes are scoped to some channels.
	Channels []string `json:"channels,omitempty"`
}

// FreezeStatus says whether the active freezes of the brand cover a post.
// It reads the store every time, so a campaign launched during a freeze is
// held like one that was running when it began.
func (a *Activities) FreezeStatus(ctx context.Context, q FreezeQuery) (FreezeState, error) {
	freezes, err := a.Store.ActiveFreezes(ctx, q.Brand)
	if err != nil {
		return FreezeState{}, err
	}
	return FreezeCoverage(freezes, q), nil
}

// FreezeCoverage is FreezeStatus's answer for a brand's active freezes
// (oldest first): the freezes that cover any of the query's targets,
// folded into one answer. Workflow tests hold posts with it exactly as
// the activity does.
func FreezeCoverage(freezes []store.Freeze, q FreezeQuery) FreezeState {
	var st FreezeState
	held := map[string]bool{}
	for _, f := range freezes {
		ids := covered(f, q)
		if len(ids) == 0 {
			continue
		}
		if !st.Frozen {
			since := f.StartedAt
			st = FreezeState{Frozen: true, CrisisID: f.CrisisID, Since: &since, Scope: f.Scope, OnUnfreeze: f.OnUnfreeze}
		}
		if f.OnUnfreeze == playbooks.UnfreezeDrop {
			st.OnUnfreeze = playbooks.UnfreezeDrop
		}
		st.Reapprove = st.Reapprove || f.Reapprove
		for _, id := range ids {
			held[id] = true
		}
	}
	for _, t := range q.Targets {
		if held[t.ID] && !slices.Contains(st.Channels, t.ID) {
			st.Channels = append(st.Channels, t.ID)
		}
	}
	return st
}

// covered lists the ids of the query's targets that one freeze holds.
func covered(f store.Freeze, q FreezeQuery) []string {
	all := func() []string {
		ids := make([]string, 0, len(q.Targets))
		for _, t := range q.Targets {
			ids = append(ids, t.ID)
		}
		return ids
	}
	switch f.Scope {
	case playbooks.FreezeBrand:
		return all()
	case playbooks.FreezeTags:
		for _, tag := range q.Tags {
			if slices.Contains(f.Tags, tag) {
				return all()
			}
		}
	case playbooks.FreezeMarkets:
		if q.Market != "" && slices.Contains(f.Markets, q.Market) {
			return all()
		}
	case playbooks.FreezeChannels:
		// A reference is a channel's name or a platform, as in playbooks;
		// its id matches too, for freezes set by hand.
		var ids []string
		for _, t := range q.Targets {
			if slices.Contains(f.Channels, t.Name) || slices.Contains(f.Channels, t.Platform) || slices.Contains(f.Channels, t.ID) {
				ids = append(ids, t.ID)
			}
		}
		return ids
	}
	return nil
}
