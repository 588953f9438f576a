package store

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/cmo-dev/cmo/platforms/sandbox"
)

// Sandbox returns the sandbox platform's storage.
func (s *Store) Sandbox() sandbox.Store { return sandboxStore{s} }

type sandboxStore struct{ s *Store }

func sbNotFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return sandbox.ErrNotFound
	}
	return err
}

// UpsertSandboxAccount creates a sandbox account that accepts token.
func (s *Store) UpsertSandboxAccount(ctx context.Context, handle, token string, followers int) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sandbox_accounts (handle, token_sha256, followers) VALUES ($1, $2, $3)
		ON CONFLICT (handle) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256, followers = EXCLUDED.followers`,
		handle, sandbox.HashToken(token), followers)
	if err != nil {
		return fmt.Errorf("upsert sandbox account %s: %w", handle, err)
	}
	return nil
}

func (x sandboxStore) AccountByTokenHash(ctx context.Context, h string) (sandbox.Account, error) {
	var a sandbox.Account
	err := x.s.pool.QueryRow(ctx, `SELECT handle, followers FROM sandbox_accounts WHERE token_sha256 = $1`, h).
		Scan(&a.Handle, &a.Followers)
	return a, sbNotFound(err)
}

func (x sandboxStore) Account(ctx context.Context, handle string) (sandbox.Account, error) {
	var a sandbox.Account
	err := x.s.pool.QueryRow(ctx, `SELECT handle, followers FROM sandbox_accounts WHERE handle = $1`, handle).
		Scan(&a.Handle, &a.Followers)
	return a, sbNotFound(err)
}

const sandboxPostCols = `id, handle, text, coalesce(idempotency_key, ''), in_reply_to, created_at`

func scanSandboxPost(r pgx.Row) (sandbox.StoredPost, error) {
	var p sandbox.StoredPost
	err := r.Scan(&p.ID, &p.Handle, &p.Text, &p.IdempotencyKey, &p.InReplyTo, &p.CreatedAt)
	return p, err
}

func (x sandboxStore) CreatePost(ctx context.Context, p sandbox.StoredPost) (sandbox.StoredPost, bool, error) {
	var key any
	if p.IdempotencyKey != "" {
		key = p.IdempotencyKey
	}
	created, err := scanSandboxPost(x.s.pool.QueryRow(ctx, `
		INSERT INTO sandbox_posts (handle, text, idempotency_key, in_reply_to, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (handle, idempotency_key) DO NOTHING
		RETURNING `+sandboxPostCols, p.Handle, p.Text, key, p.InReplyTo, p.CreatedAt))
	if err == nil {
		return created, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return sandbox.StoredPost{}, false, fmt.Errorf("create sandbox post: %w", err)
	}
	prev, err := scanSandboxPost(x.s.pool.QueryRow(ctx, `SELECT `+sandboxPostCols+` FROM sandbox_posts
		WHERE handle = $1 AND idempotency_key = $2`, p.Handle, p.IdempotencyKey))
	if err != nil {
		return sandbox.StoredPost{}, false, fmt.Errorf("read idempotent sandbox post: %w", err)
	}
	return prev, false, nil
}

func (x sandboxStore) ListPosts(ctx context.Context, handle string, beforeID int64, limit int) ([]sandbox.StoredPost, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := x.s.pool.Query(ctx, `SELECT `+sandboxPostCols+` FROM sandbox_posts
		WHERE ($1 = '' OR handle = $1) AND id < $2 ORDER BY id DESC LIMIT $3`, handle, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list sandbox posts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (sandbox.StoredPost, error) { return scanSandboxPost(r) })
}

func (x sandboxStore) GetPost(ctx context.Context, id int64) (sandbox.StoredPost, error) {
	p, err := scanSandboxPost(x.s.pool.QueryRow(ctx, `SELECT `+sandboxPostCols+` FROM sandbox_posts WHERE id = $1`, id))
	return p, sbNotFound(err)
}

func (x sandboxStore) DeletePost(ctx context.Context, handle string, id int64) error {
	tag, err := x.s.pool.Exec(ctx, `DELETE FROM sandbox_posts WHERE handle = $1 AND id = $2`, handle, id)
	if err != nil {
		return fmt.Errorf("delete sandbox post: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return sandbox.ErrNotFound
	}
	return nil
}

func (x sandboxStore) PostStamps(ctx context.Context, handle string) ([]sandbox.PostStamp, error) {
	rows, err := x.s.pool.Query(ctx, `SELECT id, created_at FROM sandbox_posts WHERE handle = $1 ORDER BY id`, handle)
	if err != nil {
		return nil, fmt.Errorf("sandbox post times of %s: %w", handle, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (sandbox.PostStamp, error) {
		var p sandbox.PostStamp
		err := r.Scan(&p.ID, &p.CreatedAt)
		return p, err
	})
}
