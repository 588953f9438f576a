-- +goose Up
-- The newest mention of each bucket: a window knows the instant its
-- evidence was complete, which backtests and the live monitor compare.
ALTER TABLE mention_buckets ADD COLUMN last_at timestamptz;

-- +goose Down
ALTER TABLE mention_buckets DROP COLUMN last_at;
