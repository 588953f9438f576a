-- +goose Up
-- A brand's inbox set-up (inbox.Config as JSON): the rules that decide
-- which mentions need a reply, the deadlines per priority, who is
-- reminded and who is told when an item is overdue. '{}' is disabled.
ALTER TABLE brands ADD COLUMN inbox jsonb NOT NULL DEFAULT '{}';

-- Inbox items: mentions that need a reply. A row is written in the
-- transaction that stores its mention, so an accepted mention never loses
-- its item; started_at stays NULL until the item's workflow is started,
-- and the brand's inbox workflow sweeps the rows that are still NULL.
-- The workflow is the item's truth; the other columns are its projection,
-- kept for lists and customer-care KPIs (seq orders the writes).
CREATE TABLE inbox_items (
    id                text PRIMARY KEY,
    brand_id          text NOT NULL REFERENCES brands (id),
    mention_id        bigint NOT NULL UNIQUE REFERENCES mentions (id),
    source            text NOT NULL,
    rule              text NOT NULL,
    kind              text NOT NULL,
    priority          text NOT NULL,
    status            text NOT NULL DEFAULT 'open',
    opened_at         timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    started_at        timestamptz,
    assignee          text NOT NULL DEFAULT '',
    reminded_at       timestamptz,
    overdue_at        timestamptz,
    first_response_at timestamptz,
    replies           integer NOT NULL DEFAULT 0,
    reply_channel_id  text NOT NULL DEFAULT '',
    reply_post_id     text NOT NULL DEFAULT '',
    reply_url         text NOT NULL DEFAULT '',
    closed_at         timestamptz,
    closed_by         text NOT NULL DEFAULT '',
    close_reason      text NOT NULL DEFAULT '',
    seq               bigint NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_items_unstarted ON inbox_items (brand_id, opened_at) WHERE started_at IS NULL;
CREATE INDEX inbox_items_brand ON inbox_items (brand_id, opened_at DESC);
CREATE INDEX inbox_items_open ON inbox_items (brand_id, due_at) WHERE closed_at IS NULL;

-- +goose Down
DROP TABLE inbox_items;
ALTER TABLE brands DROP COLUMN inbox;
