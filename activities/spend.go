package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/store"
)

// CostInput is money a playbook's cost step says the campaign spent.
type CostInput struct {
	CampaignID string `json:"campaign_id"`
	// StepID is the step's run ("boost", "boost#2"): each run records once.
	StepID   string  `json:"step_id"`
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// RecordCost adds a cost step's amount to the campaign's costs, once per
// step run however often it is retried.
func (a *Activities) RecordCost(ctx context.Context, in CostInput) error {
	_, _, err := a.Store.AddCost(ctx, store.Cost{CampaignID: in.CampaignID, Key: "step:" + in.StepID, Amount: in.Amount,
		Currency: in.Currency, Note: in.Note, Source: store.CostFromPlaybook, At: a.now().UTC()})
	if errors.Is(err, store.ErrCurrency) || errors.Is(err, store.ErrExists) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("cost %s: %v", in.StepID, err), ErrTypePermanent, nil)
	}
	return err
}
