-- +goose Up
-- Content freezes: while a crisis lasts, the scheduled posts in its scope
-- must not go out. One row per crisis; lifted_at stays NULL while the
-- freeze holds. Campaigns read the active rows at every publish point, so
-- a campaign launched during a freeze is held like one already running.
-- channels are channel names or platforms, as in playbooks; tags and
-- markets are matched against a campaign's own.
CREATE TABLE freezes (
    crisis_id    text PRIMARY KEY,
    brand_id     text NOT NULL REFERENCES brands (id),
    scope        text NOT NULL CHECK (scope IN ('brand', 'channels', 'tags', 'markets')),
    channels     text[] NOT NULL DEFAULT '{}',
    tags         text[] NOT NULL DEFAULT '{}',
    markets      text[] NOT NULL DEFAULT '{}',
    on_unfreeze  text NOT NULL DEFAULT 'reschedule' CHECK (on_unfreeze IN ('drop', 'reschedule')),
    reapprove    boolean NOT NULL DEFAULT false,
    actor        text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL,
    lifted_at    timestamptz,
    lifted_by    text NOT NULL DEFAULT '',
    lift_reason  text NOT NULL DEFAULT ''
);
CREATE INDEX freezes_active ON freezes (brand_id) WHERE lifted_at IS NULL;

-- +goose Down
DROP TABLE freezes;
