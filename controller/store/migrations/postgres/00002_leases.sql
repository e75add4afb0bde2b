-- Leases: the controller's leader election with fencing. A released lease
-- keeps its row (holder '') so that its term never goes back.

-- +goose Up
CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL,
	term       BIGINT NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE leases;
