-- Per-project webhook secrets: the current one and, while a rotation is
-- under way, the previous one. NULL: none.

-- +goose Up
ALTER TABLE projects ADD COLUMN webhook_secret TEXT;
ALTER TABLE projects ADD COLUMN webhook_secret_previous TEXT;

-- +goose Down
ALTER TABLE projects DROP COLUMN webhook_secret_previous;
ALTER TABLE projects DROP COLUMN webhook_secret;
