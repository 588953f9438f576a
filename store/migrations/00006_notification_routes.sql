-- +goose Up
-- Where a brand's notification targets are delivered: "slack:oncall" to a
-- Slack incoming webhook, "email:comms-leads" to a list of addresses,
-- "pagerduty:comms-director" to a PagerDuty service, "role:approver" to
-- any of those. Non-secret settings (e-mail addresses) are in config; the
-- Slack webhook URL, the PagerDuty routing key and a webhook's URL and
-- signing secret are sealed like channel credentials.
CREATE TABLE notification_routes (
    brand_id    text NOT NULL REFERENCES brands (id),
    target      text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('slack', 'email', 'pagerduty', 'webhook')),
    config      jsonb NOT NULL DEFAULT '{}',
    secret      bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, target)
);

-- Delivery state of each outbox row. pending: not delivered yet (last_error
-- says why the last attempt failed, if one did); sent; failed: refused in a
-- way no retry fixes; unrouted: the brand has no route for the target.
ALTER TABLE notifications ADD COLUMN status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sent', 'failed', 'unrouted'));
ALTER TABLE notifications ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN last_error text;
ALTER TABLE notifications ADD COLUMN last_attempt_at timestamptz;

-- +goose Down
ALTER TABLE notifications DROP COLUMN last_attempt_at;
ALTER TABLE notifications DROP COLUMN last_error;
ALTER TABLE notifications DROP COLUMN attempts;
ALTER TABLE notifications DROP COLUMN status;
DROP TABLE notification_routes;
