-- +goose Up

-- Each post's numbers as measured, a time series per post. Every
-- measurement of a campaign reads all its posts at once: batch_at names
-- that round, so that totals over time add up posts measured together.
CREATE TABLE post_metrics (
    campaign_id  text NOT NULL,
    step_id      text NOT NULL,
    channel_id   text NOT NULL,
    post_id      text NOT NULL,
    batch_at     timestamptz NOT NULL,
    at           timestamptz NOT NULL,
    impressions  bigint NOT NULL,
    reach        bigint NOT NULL,
    likes        bigint NOT NULL,
    reposts      bigint NOT NULL,
    replies      bigint NOT NULL,
    clicks       bigint NOT NULL,
    PRIMARY KEY (campaign_id, step_id, channel_id, batch_at)
);

-- Follower counts of the channels a campaign publishes to, measured with
-- its posts; the first and the latest make its community growth.
CREATE TABLE follower_samples (
    campaign_id  text NOT NULL,
    channel_id   text NOT NULL,
    batch_at     timestamptz NOT NULL,
    at           timestamptz NOT NULL,
    followers    bigint NOT NULL,
    PRIMARY KEY (campaign_id, channel_id, batch_at)
);

-- Links in published posts are replaced by short links served by cmo;
-- the code is derived from (campaign, channel, target), so a retried
-- publish makes the same link.
CREATE TABLE tracked_links (
    code         text PRIMARY KEY,
    campaign_id  text NOT NULL,
    brand_id     text NOT NULL,
    channel_id   text NOT NULL,
    target       text NOT NULL,
    destination  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, channel_id, target)
);

-- One row per click on a tracked link. Bots and link-preview fetchers are
-- kept (bot = true) but not counted in the KPIs.
CREATE TABLE link_clicks (
    id             bigserial PRIMARY KEY,
    code           text NOT NULL REFERENCES tracked_links (code),
    campaign_id    text NOT NULL,
    channel_id     text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    referrer       text NOT NULL DEFAULT '',
    referrer_host  text NOT NULL DEFAULT '',
    bot            boolean NOT NULL DEFAULT false
);
CREATE INDEX link_clicks_campaign ON link_clicks (campaign_id, at);

-- Money spent on a campaign (ad budget), from the playbook's cost steps or
-- the API; key makes each entry idempotent.
CREATE TABLE campaign_costs (
    campaign_id  text NOT NULL,
    key          text NOT NULL,
    amount       numeric(14, 2) NOT NULL CHECK (amount >= 0),
    currency     text NOT NULL DEFAULT '',
    note         text NOT NULL DEFAULT '',
    source       text NOT NULL CHECK (source IN ('playbook', 'api')),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, key)
);

-- Conversions reported by the shop or CRM, each once by its external id.
CREATE TABLE conversions (
    campaign_id  text NOT NULL,
    external_id  text NOT NULL,
    value        numeric(14, 2) NOT NULL CHECK (value >= 0),
    currency     text NOT NULL DEFAULT '',
    channel_id   text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, external_id)
);

-- The content calendar: every post a campaign scheduled, with its time
-- and text; whether it went out is read from the publish ledger.
CREATE TABLE calendar_entries (
    campaign_id  text NOT NULL,
    step_id      text NOT NULL,
    channel_id   text NOT NULL,
    brand_id     text NOT NULL,
    playbook     text NOT NULL DEFAULT '',
    title        text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL,
    timezone     text NOT NULL DEFAULT 'UTC',
    text         text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, step_id, channel_id)
);
CREATE INDEX calendar_entries_brand_at ON calendar_entries (brand_id, at);

-- Tokens that open a person's calendar feed (GET /v1/calendar.ics?token=):
-- calendar applications cannot send headers, so the token is in the URL.
-- Only its SHA-256 is kept.
CREATE TABLE calendar_tokens (
    id            text PRIMARY KEY,
    token_sha256  text NOT NULL UNIQUE,
    user_name     text NOT NULL,
    brand_id      text REFERENCES brands (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- +goose Down
DROP TABLE calendar_tokens;
DROP TABLE calendar_entries;
DROP TABLE conversions;
DROP TABLE campaign_costs;
DROP TABLE link_clicks;
DROP TABLE tracked_links;
DROP TABLE follower_samples;
DROP TABLE post_metrics;
