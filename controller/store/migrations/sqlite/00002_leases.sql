-- Leases: the controller's leader election with fencing. A released lease
-- keeps its row (holder '') so that its term never goes back. Times are
-- INTEGER microseconds, declared TIMESTAMP, as in 00001.

-- +goose Up
CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL,
	term       INTEGER NOT NULL,
	expires_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE leases;
