-- +goose Up
-- Short leases that keep publishing orderly across workers: one attempt at
-- a time per business key (so two attempts can never both read back
-- "not posted" and both post), and a bounded number of calls at a time per
-- channel. A lease expires on its own when its holder dies.
CREATE TABLE publish_leases (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE publish_leases;
