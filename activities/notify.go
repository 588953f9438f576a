package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/notify"
	"github.com/cmo-dev/cmo/store"
)

// NotifyInput is a message for notification targets ("slack:oncall",
// "role:approver"). It names targets, never where they are delivered:
// routes and their secrets are read inside the activity.
type NotifyInput struct {
	CampaignID string   `json:"campaign_id"`
	Brand      string   `json:"brand"`
	StepID     string   `json:"step_id"`
	To         []string `json:"to"`
	Message    string   `json:"message"`
	// Subject heads the e-mail and the PagerDuty summary; empty derives
	// one from the message.
	Subject string `json:"subject,omitempty"`
	// Severity is low, medium, high or critical.
	Severity string `json:"severity,omitempty"`
	// Incident groups the messages about one thing: PagerDuty's dedup
	// key. Empty means the campaign id, which for a crisis is its id.
	Incident string `json:"incident,omitempty"`
	// Action is trigger (the default), acknowledge or resolve.
	Action string `json:"action,omitempty"`
	Link   string `json:"link,omitempty"`
}

// ErrTypeUndelivered marks a notification that may still go through on a
// later attempt.
const ErrTypeUndelivered = "Undelivered"

// notifyLeaseTTL outlasts one attempt (a minute, start to close), so a
// retry never sends while an attempt that timed out is still sending.
const notifyLeaseTTL = 2 * time.Minute

// notifyBusyDelay is the wait before retrying a target another attempt is
// still delivering.
const notifyBusyDelay = 5 * time.Second

// Notify records the message for each target in the outbox, once per
// (campaign, step, target, message) however often it is retried, and
// delivers it through the brand's route for the target. A target already
// sent is skipped, so a retry never pages twice; one refused for good is
// not sent again. A target without a route (cmo dev has no Slack) is
// recorded as unrouted, not an error.
//
// The result is an error when any target is still undelivered (retryable,
// after the wait a receiver asked for) or, once nothing is left to retry,
// when any target refused the message (non-retryable, ErrTypePermanent).
// Error texts come from the notifiers with secrets removed: the Temporal
// UI shows them.
func (a *Activities) Notify(ctx context.Context, in NotifyInput) error {
	if in.Action == "" {
		in.Action = notify.ActionTrigger
	}
	if !slices.Contains(notify.Actions, in.Action) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("notify action %q is not one of %s", in.Action, strings.Join(notify.Actions, ", ")), ErrTypePermanent, nil)
	}
	if in.Severity != "" && !slices.Contains(notify.Severities, in.Severity) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("notify severity %q is not one of %s", in.Severity, strings.Join(notify.Severities, ", ")), ErrTypePermanent, nil)
	}
	var targets []string
	for _, to := range in.To {
		if !slices.Contains(targets, to) {
			targets = append(targets, to)
		}
	}
	holder := a.notifyHolder(ctx, in)
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := a.Store.ReleaseLeases(rctx, holder); err != nil {
			a.logger().Warn("release notify leases", "holder", holder, "error", err)
		}
	}()

	// Targets are independent: one slow receiver must not hold the others
	// past the attempt's timeout.
	outcomes := make([]delivery, len(targets))
	var wg sync.WaitGroup
	for i, to := range targets {
		wg.Go(func() { outcomes[i] = a.deliver(ctx, in, to, holder) })
	}
	wg.Wait()

	var later, refused []string
	var wait time.Duration
	for i, o := range outcomes {
		switch {
		case o.err == nil:
		case o.permanent:
			refused = append(refused, targets[i]+": "+o.err.Error())
		default:
			later = append(later, targets[i]+": "+o.err.Error())
			wait = max(wait, o.retryAfter)
		}
	}
	if len(later) > 0 {
		msg := fmt.Sprintf("notify %s/%s: not delivered yet to %s", in.CampaignID, in.StepID, strings.Join(later, "; "))
		if len(refused) > 0 {
			msg += "; refused for good by " + strings.Join(refused, "; ")
		}
		if wait > 0 {
			return temporal.NewApplicationErrorWithOptions(msg, ErrTypeUndelivered, temporal.ApplicationErrorOptions{NextRetryDelay: wait})
		}
		return temporal.NewApplicationError(msg, ErrTypeUndelivered)
	}
	if len(refused) > 0 {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("notify %s/%s: refused for good by %s", in.CampaignID, in.StepID, strings.Join(refused, "; ")), ErrTypePermanent, nil)
	}
	return nil
}

// delivery is one target's outcome; a nil err means sent, logged or
// unrouted.
type delivery struct {
	err        error
	permanent  bool
	retryAfter time.Duration
}

// deliver adds the target's outbox row (once) and sends it unless it was
// sent or refused before.
func (a *Activities) deliver(ctx context.Context, in NotifyInput, to, holder string) delivery {
	key := notifyKey(in, to)
	if _, err := a.Store.AddNotification(ctx, key, store.Notification{
		BrandID: in.Brand, CampaignID: in.CampaignID, StepID: in.StepID, Target: to, Message: in.Message,
	}); err != nil {
		return delivery{err: err}
	}
	// The lease keeps two attempts from sending at once; the state is
	// read under it, after any other attempt recorded its outcome.
	ok, err := a.Store.AcquireLease(ctx, "notify:"+key, holder, notifyLeaseTTL)
	if err != nil {
		return delivery{err: err}
	}
	if !ok {
		return delivery{err: errors.New("another attempt is delivering it"), retryAfter: notifyBusyDelay}
	}
	d, err := a.Store.NotificationDelivery(ctx, key)
	if err != nil {
		return delivery{err: err}
	}
	switch d.Status {
	case store.DeliverySent:
		return delivery{}
	case store.DeliveryFailed:
		return delivery{err: errors.New(d.LastError), permanent: true}
	}
	log := a.logger().With("brand", in.Brand, "target", to, "campaign", in.CampaignID, "step", in.StepID)

	if prefix, _, _ := strings.Cut(to, ":"); prefix == notify.PrefixLog {
		log.Info("notification", "message", in.Message)
		return a.recordDelivery(ctx, key, store.DeliverySent, nil, nil)
	}
	route, err := a.Store.NotificationRoute(ctx, in.Brand, to)
	if errors.Is(err, store.ErrNotFound) {
		log.Info("notification not delivered: the brand has no route for the target", "message", in.Message)
		return a.recordDelivery(ctx, key, store.DeliveryUnrouted, fmt.Errorf("brand %s has no route for %s", in.Brand, to), nil)
	} else if err != nil {
		return delivery{err: err}
	}
	sender := a.Notifiers[notify.Kind(route.Kind)]
	if sender == nil {
		log.Warn("notification not delivered: no notifier of the route's kind is configured", "kind", route.Kind)
		return a.recordDelivery(ctx, key, store.DeliveryUnrouted, fmt.Errorf("no %s notifier is configured", route.Kind), nil)
	}
	secrets, err := a.Store.NotificationRouteSecrets(ctx, in.Brand, to)
	if err != nil {
		return delivery{err: err}
	}
	r := notify.Route{Brand: in.Brand, Target: to, Kind: notify.Kind(route.Kind), URL: secrets["url"],
		RoutingKey: secrets["routing_key"], Secret: secrets["secret"], Addresses: route.Config.Addresses}
	incident := in.Incident
	if incident == "" {
		incident = in.CampaignID
	}
	err = sender.Send(ctx, r, notify.Message{ID: key, Brand: in.Brand, Campaign: in.CampaignID, Step: in.StepID, Target: to,
		Subject: in.Subject, Text: in.Message, Severity: in.Severity, Incident: incident, Action: in.Action, Link: in.Link})
	if err == nil {
		log.Info("notification sent", "kind", route.Kind)
		return a.recordDelivery(ctx, key, store.DeliverySent, nil, nil)
	}
	status := store.DeliveryPending
	if notify.IsPermanent(err) {
		status = store.DeliveryFailed
	}
	log.Warn("notification not delivered", "kind", route.Kind, "status", status, "error", scrub(err, secrets))
	return a.recordDelivery(ctx, key, status, err, secrets)
}

// recordDelivery stores a target's state and turns cause into its outcome.
func (a *Activities) recordDelivery(ctx context.Context, key, status string, cause error, secrets map[string]string) delivery {
	text := ""
	if cause != nil {
		text = scrub(cause, secrets)
	}
	if err := a.Store.RecordDelivery(ctx, key, status, text); err != nil {
		// Unrecorded, it is tried again; a send that went out may repeat,
		// which beats one that is lost.
		return delivery{err: err}
	}
	switch status {
	case store.DeliveryFailed:
		return delivery{err: errors.New(text), permanent: true}
	case store.DeliveryPending:
		return delivery{err: errors.New(text), retryAfter: notify.RetryAfterOf(cause)}
	}
	return delivery{}
}

// scrub is an error's text without any of the route's secrets. Notifiers
// already leave them out; this guards against an error from elsewhere
// that quotes a URL.
func scrub(err error, secrets map[string]string) string {
	text := err.Error()
	for _, s := range secrets {
		if len(s) >= 4 {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
}

// notifyKey is a target's outbox key. Messages that are not triggers key
// on their action too, so a resolve is not taken for the page before it.
func notifyKey(in NotifyInput, to string) string {
	body := in.Message
	if in.Action != notify.ActionTrigger {
		body += "\x00" + in.Action
	}
	return strings.Join([]string{in.CampaignID, in.StepID, to, shortHash(body)}, "/")
}

// notifyHolder names this attempt for the delivery leases.
func (a *Activities) notifyHolder(ctx context.Context, in NotifyInput) string {
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		return fmt.Sprintf("notify:%s/%s/%d", info.WorkflowExecution.ID, info.ActivityID, info.Attempt)
	}
	return "notify:" + in.CampaignID + "/" + in.StepID
}

// Notification actions, for NotifyInput.Action: workflows name them here
// rather than import the package that does the sending.
const (
	ActionTrigger     = notify.ActionTrigger
	ActionAcknowledge = notify.ActionAcknowledge
	ActionResolve     = notify.ActionResolve
)
