-- +goose Up
-- API keys: the secret is shown once, when made; only its SHA-256 is kept
-- (keys are 32 random bytes, so a slow hash would add nothing). A key
-- holds one role for a set of brands; '{*}' means every brand.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    key_sha256   text NOT NULL UNIQUE,
    actor        text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'marketer', 'approver', 'pr-lead', 'admin')),
    brands       text[] NOT NULL CHECK (cardinality(brands) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL DEFAULT '',
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- The audit trail of human decisions and changes made through the API:
-- who (actor and key), what (action on subject), when, for which brand.
-- Rows are only ever inserted.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    brand_id    text NOT NULL DEFAULT '',
    actor       text NOT NULL,
    key_id      text NOT NULL DEFAULT '',
    role        text NOT NULL DEFAULT '',
    action      text NOT NULL,
    subject     text NOT NULL DEFAULT '',
    workflow_id text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}',
    request_id  text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_brand_at ON audit_log (brand_id, at DESC, id DESC);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at DESC, id DESC);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE api_keys;
