-- +goose Up
-- Notifications sent by playbooks (notify steps, approval reminders and
-- escalations). One row per (source, target): a retried activity does not
-- notify twice. Delivery to Slack, e-mail, PagerDuty and webhooks reads
-- from here.
CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    dedup_key   text NOT NULL UNIQUE,
    brand_id    text NOT NULL,
    campaign_id text,
    step_id     text,
    target      text NOT NULL,
    message     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX notifications_brand ON notifications (brand_id, created_at DESC);

-- +goose Down
DROP TABLE notifications;
