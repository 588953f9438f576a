-- +goose Up
-- Non-secret channel settings: a Mastodon instance's base URL, a LinkedIn
-- organisation URN, a Facebook page id, a webhook URL.
ALTER TABLE channels ADD COLUMN config jsonb NOT NULL DEFAULT '{}';
ALTER TABLE channels ADD COLUMN status_reason text;

-- A deleted sandbox post leaves its replies in place, as networks do.
ALTER TABLE sandbox_posts DROP CONSTRAINT sandbox_posts_in_reply_to_fkey;
ALTER TABLE sandbox_posts ADD CONSTRAINT sandbox_posts_in_reply_to_fkey
    FOREIGN KEY (in_reply_to) REFERENCES sandbox_posts (id) ON DELETE SET NULL;

-- +goose Down
ALTER TABLE sandbox_posts DROP CONSTRAINT sandbox_posts_in_reply_to_fkey;
ALTER TABLE sandbox_posts ADD CONSTRAINT sandbox_posts_in_reply_to_fkey
    FOREIGN KEY (in_reply_to) REFERENCES sandbox_posts (id);
ALTER TABLE channels DROP COLUMN status_reason;
ALTER TABLE channels DROP COLUMN config;
