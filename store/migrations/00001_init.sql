-- +goose Up
CREATE TABLE brands (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A channel is one account of a brand on one platform. Its credentials are
-- sealed with the configured key and only ever read by activities.
CREATE TABLE channels (
    id          text PRIMARY KEY,
    brand_id    text NOT NULL REFERENCES brands (id),
    name        text NOT NULL,
    platform    text NOT NULL,
    handle      text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'reconnect')),
    credentials bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (brand_id, name)
);

-- The publish ledger records every intended post under its business key
-- (campaign, step, channel) before the platform is called and again after,
-- so that a retry after an unknown outcome never posts twice.
CREATE TABLE publish_ledger (
    key              text PRIMARY KEY,
    campaign_id      text NOT NULL,
    step_id          text NOT NULL,
    channel_id       text NOT NULL REFERENCES channels (id),
    content_hash     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'published', 'failed')),
    remote_id        text,
    remote_url       text,
    attempts         integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    last_error       text
);
CREATE INDEX publish_ledger_campaign ON publish_ledger (campaign_id);

CREATE TABLE campaign_reports (
    campaign_id  text PRIMARY KEY,
    brand_id     text NOT NULL,
    playbook     text NOT NULL,
    report       jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The sandbox platform's own data: what a real network would keep on its
-- side. It lives here so that what it received survives restarts of cmo dev.
CREATE TABLE sandbox_accounts (
    handle        text PRIMARY KEY,
    token_sha256  text NOT NULL UNIQUE,
    followers     integer NOT NULL DEFAULT 1000,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sandbox_posts (
    id               bigserial PRIMARY KEY,
    handle           text NOT NULL REFERENCES sandbox_accounts (handle),
    text             text NOT NULL,
    idempotency_key  text,
    in_reply_to      bigint REFERENCES sandbox_posts (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (handle, idempotency_key)
);
CREATE INDEX sandbox_posts_handle ON sandbox_posts (handle, id DESC);

-- +goose Down
DROP TABLE sandbox_posts;
DROP TABLE sandbox_accounts;
DROP TABLE campaign_reports;
DROP TABLE publish_ledger;
DROP TABLE channels;
DROP TABLE brands;
