-- +goose Up
-- A brand's listening set-up (topics and competitors with their keywords,
-- the prior volume) and the crisis playbooks its monitor runs; NULL means
-- every crisis playbook of the library.
ALTER TABLE brands ADD COLUMN listening jsonb NOT NULL DEFAULT '{}';
ALTER TABLE brands ADD COLUMN crisis_playbooks text[];

-- Mentions of a brand or its competitors. (brand, source, external_id) is
-- the producer's identity for a mention: a retried delivery is dropped.
CREATE TABLE mentions (
    id                bigserial PRIMARY KEY,
    brand_id          text NOT NULL REFERENCES brands (id),
    source            text NOT NULL,
    external_id       text NOT NULL,
    author_handle     text NOT NULL DEFAULT '',
    author_followers  bigint NOT NULL DEFAULT 0,
    author_verified   boolean NOT NULL DEFAULT false,
    body              text NOT NULL DEFAULT '',
    lang              text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    url               text NOT NULL DEFAULT '',
    sentiment         real NOT NULL DEFAULT 0,
    sentiment_label   text NOT NULL DEFAULT 'neutral',
    sentiment_source  text NOT NULL DEFAULT 'lexicon',
    topics            text[] NOT NULL DEFAULT '{}',
    competitor        text NOT NULL DEFAULT '',
    received_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (brand_id, source, external_id)
);
CREATE INDEX mentions_brand_time ON mentions (brand_id, created_at DESC);

-- Per-minute counts per scope ('brand', 'topic:x', 'competitor:y'),
-- updated in the same transaction as the mentions they count: windows are
-- sums of at most a few hundred of these rows, never scans of mentions.
CREATE TABLE mention_buckets (
    brand_id   text NOT NULL,
    scope      text NOT NULL,
    minute     timestamptz NOT NULL,
    mentions   bigint NOT NULL,
    negative   bigint NOT NULL,
    positive   bigint NOT NULL,
    reach      bigint NOT NULL,
    max_reach  bigint NOT NULL,
    verified   bigint NOT NULL,
    PRIMARY KEY (brand_id, minute, scope)
);

-- The hour-of-day baseline of each scope (listening.Baseline as JSON),
-- folded once per completed hour. A row appears with a scope's first
-- mention; through stays NULL until its first fold, which starts at
-- first_minute.
CREATE TABLE listening_baselines (
    brand_id     text NOT NULL,
    scope        text NOT NULL,
    baseline     jsonb NOT NULL DEFAULT '{}',
    first_minute timestamptz NOT NULL,
    through      timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, scope)
);

-- Webhook sources of mentions: a listening provider posting for one
-- brand, with the sealed secret that signs its deliveries.
CREATE TABLE mention_sources (
    name       text PRIMARY KEY,
    brand_id   text NOT NULL REFERENCES brands (id),
    secret     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Crises opened by a brand's monitor or by hand. The workflow id is per
-- brand and playbook, so at most one of each is open; the run id tells
-- the crises of one workflow id apart.
CREATE TABLE crises (
    id          text PRIMARY KEY,
    brand_id    text NOT NULL REFERENCES brands (id),
    playbook    text NOT NULL,
    scope       text NOT NULL DEFAULT 'brand',
    workflow_id text NOT NULL,
    run_id      text NOT NULL UNIQUE,
    opened_at   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crises_brand ON crises (brand_id, opened_at DESC);

-- +goose Down
DROP TABLE crises;
DROP TABLE mention_sources;
DROP TABLE listening_baselines;
DROP TABLE mention_buckets;
DROP TABLE mentions;
ALTER TABLE brands DROP COLUMN crisis_playbooks;
ALTER TABLE brands DROP COLUMN listening;
