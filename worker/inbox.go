package worker

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/workflows"
)

// Inbox starts inbox items' workflows, for the DispatchInbox activity.
type Inbox struct {
	Client    client.Client
	TaskQueue string
}

// StartInboxItem starts an item's workflow under the id derived from the
// item. An item whose workflow runs already, or ran and closed, is left
// as it is: a sweep that sees it again starts nothing.
func (i Inbox) StartInboxItem(ctx context.Context, item inbox.Item) error {
	_, err := i.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.InboxItemWorkflowID(item.ID),
		TaskQueue:                i.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SABrand.ValueSet(item.Brand),
			workflows.SAKind.ValueSet(workflows.KindInboxItem),
			workflows.SAStatus.ValueSet(inbox.StatusOpen),
			workflows.SASeverity.ValueSet(item.Priority),
		),
		Memo:          map[string]any{"title": fmt.Sprintf("%s %s from %s — %s", item.Priority, item.Kind, item.Author, item.Brand)},
		StaticSummary: fmt.Sprintf("Inbox %s: %s %s from %s on %s", item.ID, item.Priority, item.Kind, item.Author, item.Source),
		StaticDetails: fmt.Sprintf("“%s” — reply by %s (rule `%s`).", item.Excerpt, item.DueAt.UTC().Format("2006-01-02 15:04 MST"), item.Rule),
	}, workflows.InboxItemWorkflow, workflows.InboxItemInput{Item: item})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}

func inboxOptions(taskQueue, brand string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    workflows.InboxWorkflowID(brand),
		TaskQueue:             taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SABrand.ValueSet(brand),
			workflows.SAKind.ValueSet(workflows.KindInbox),
			workflows.SAStatus.ValueSet("watching"),
		),
		Memo:          map[string]any{"title": "Inbox — " + brand},
		StaticSummary: "Reply inbox of " + brand,
	}
}

// StartInbox makes sure the brand's inbox workflow runs; starting one that
// runs already is not an error.
func StartInbox(ctx context.Context, c client.Client, taskQueue, brand string, in workflows.InboxInput) error {
	in.Brand = brand
	opts := inboxOptions(taskQueue, brand)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	if _, err := c.ExecuteWorkflow(ctx, opts, workflows.BrandInboxWorkflow, in); err != nil {
		return fmt.Errorf("start inbox of %s: %w", brand, err)
	}
	return nil
}

// NudgeInbox tells the brand's inbox that mentions opened items, starting
// the inbox if it does not run (a brand whose inbox was just enabled).
func NudgeInbox(ctx context.Context, c client.Client, taskQueue, brand string, in workflows.InboxInput) error {
	in.Brand = brand
	_, err := c.SignalWithStartWorkflow(ctx, workflows.InboxWorkflowID(brand), workflows.SignalInboxItems, nil,
		inboxOptions(taskQueue, brand), workflows.BrandInboxWorkflow, in)
	if err != nil {
		return fmt.Errorf("nudge inbox of %s: %w", brand, err)
	}
	return nil
}

// InboxBrands lists the brands whose inbox should run.
type InboxBrands interface {
	InboxBrands(ctx context.Context) ([]string, error)
}

// EnsureInboxes starts the inbox of every brand that has one enabled, or
// items left unstarted, so the sweep resumes after a restart.
func EnsureInboxes(ctx context.Context, c client.Client, taskQueue string, brands InboxBrands, in workflows.InboxInput) error {
	ids, err := brands.InboxBrands(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := StartInbox(ctx, c, taskQueue, id, in); err != nil {
			return err
		}
	}
	return nil
}
