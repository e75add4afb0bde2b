-- The first Mainline schema on SQLite. Times are INTEGER microseconds since
-- the Unix epoch (UTC), declared TIMESTAMP so the driver converts them; a
-- NULL time means "not yet" (not processed, not started, not finished).

-- +goose Up
CREATE TABLE projects (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL UNIQUE,
	scm        TEXT NOT NULL,
	location   TEXT NOT NULL,
	branch     TEXT NOT NULL DEFAULT '',
	paused     BOOLEAN NOT NULL DEFAULT FALSE,
	pinned     TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL
);
CREATE INDEX projects_location ON projects (scm, location);

CREATE TABLE deliveries (
	id           TEXT PRIMARY KEY,
	event        TEXT NOT NULL,
	repo         TEXT NOT NULL DEFAULT '',
	payload      BLOB,
	received_at  TIMESTAMP NOT NULL,
	processed_at TIMESTAMP
);
CREATE INDEX deliveries_pending ON deliveries (received_at, id) WHERE processed_at IS NULL;

CREATE TABLE heads (
	project_id INTEGER NOT NULL REFERENCES projects (id),
	branch     TEXT NOT NULL,
	sha        TEXT NOT NULL,
	seen_at    TIMESTAMP NOT NULL,
	PRIMARY KEY (project_id, branch)
);

CREATE TABLE tags (
	project_id INTEGER NOT NULL REFERENCES projects (id),
	name       TEXT NOT NULL,
	sha        TEXT NOT NULL,
	message    TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL,
	PRIMARY KEY (project_id, name)
);
CREATE INDEX tags_created ON tags (project_id, created_at);

CREATE TABLE builds (
	project_id  INTEGER NOT NULL REFERENCES projects (id),
	name        TEXT NOT NULL,
	version     TEXT NOT NULL,
	status      TEXT NOT NULL,
	image       TEXT NOT NULL DEFAULT '',
	digest      TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	log         TEXT NOT NULL DEFAULT '',
	started_at  TIMESTAMP,
	finished_at TIMESTAMP,
	PRIMARY KEY (project_id, name, version)
);
CREATE INDEX builds_started ON builds (project_id, started_at);

CREATE TABLE desired_states (
	project_id INTEGER NOT NULL REFERENCES projects (id),
	build      TEXT NOT NULL,
	version    TEXT NOT NULL,
	instances  INTEGER NOT NULL,
	set_at     TIMESTAMP NOT NULL,
	set_by     TEXT NOT NULL DEFAULT '',
	revision   INTEGER NOT NULL,
	PRIMARY KEY (project_id, build)
);

CREATE TABLE last_states (
	project_id  INTEGER NOT NULL REFERENCES projects (id),
	build       TEXT NOT NULL,
	versions    TEXT NOT NULL,
	observed_at TIMESTAMP NOT NULL,
	PRIMARY KEY (project_id, build)
);

-- events.project_id has no foreign key: 0 is for events about no project.
CREATE TABLE events (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	project_id  INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	message     TEXT NOT NULL,
	happened_at TIMESTAMP NOT NULL
);
CREATE INDEX events_project ON events (project_id, id DESC);
CREATE INDEX events_kind ON events (kind, id DESC);

CREATE TABLE rejections (
	project_id  INTEGER NOT NULL REFERENCES projects (id),
	version     TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	rejected_at TIMESTAMP NOT NULL,
	PRIMARY KEY (project_id, version)
);

CREATE TABLE verify_runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	project_id  INTEGER NOT NULL REFERENCES projects (id),
	version     TEXT NOT NULL,
	run_trigger TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	summary     TEXT NOT NULL DEFAULT '',
	report      BLOB,
	started_at  TIMESTAMP NOT NULL,
	finished_at TIMESTAMP
);
CREATE INDEX verify_runs_project ON verify_runs (project_id, started_at);

CREATE TABLE dependency_prs (
	project_id INTEGER NOT NULL REFERENCES projects (id),
	number     INTEGER NOT NULL,
	branch     TEXT NOT NULL DEFAULT '',
	title      TEXT NOT NULL DEFAULT '',
	state      TEXT NOT NULL,
	checks     TEXT NOT NULL DEFAULT '',
	url        TEXT NOT NULL DEFAULT '',
	updated_at TIMESTAMP NOT NULL,
	PRIMARY KEY (project_id, number)
);

CREATE TABLE tokens (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL UNIQUE,
	hash       BLOB NOT NULL UNIQUE,
	created_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE tokens;
DROP TABLE dependency_prs;
DROP TABLE verify_runs;
DROP TABLE rejections;
DROP TABLE events;
DROP TABLE last_states;
DROP TABLE desired_states;
DROP TABLE builds;
DROP TABLE tags;
DROP TABLE heads;
DROP TABLE deliveries;
DROP TABLE projects;
