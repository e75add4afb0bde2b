package gitlocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mainline-cd/mainline/providers"
)

// record is what git cannot hold: pull requests, commit statuses and
// deployments. It lives in <git-common-dir>/mainline/pulls.json.
type record struct {
	NextPull       int                        `json:"next_pull"`
	Pulls          []*pull                    `json:"pulls"`
	Statuses       map[string][]*commitStatus `json:"statuses"` // by commit SHA; latest per context
	NextDeployment int64                      `json:"next_deployment"`
	Deployments    []*Deployment              `json:"deployments"`
}

type pull struct {
	Number    int       `json:"number"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	Head      string    `json:"head"`
	Base      string    `json:"base"`
	State     string    `json:"state"` // "open" or "closed"
	Merged    bool      `json:"merged"`
	MergeSHA  string    `json:"merge_sha,omitempty"`
	HeadSHA   string    `json:"head_sha"` // at open, merge or close; live head while open
	Comments  []string  `json:"comments,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type commitStatus struct {
	State       providers.CommitState `json:"state"`
	Context     string                `json:"context"`
	Description string                `json:"description,omitempty"`
	TargetURL   string                `json:"target_url,omitempty"`
	UpdatedAt   time.Time             `json:"updated_at"`
}

// Deployment is a deployment recorded by CreateDeployment, with its
// statuses oldest first.
type Deployment struct {
	ID          int64              `json:"id"`
	Ref         string             `json:"ref"`
	SHA         string             `json:"sha"`
	Environment string             `json:"environment"`
	Description string             `json:"description,omitempty"`
	CreatedAt   time.Time          `json:"created_at"`
	Statuses    []DeploymentStatus `json:"statuses,omitempty"`
}

// DeploymentStatus is one state a deployment went through.
type DeploymentStatus struct {
	State          string    `json:"state"`
	EnvironmentURL string    `json:"environment_url,omitempty"`
	Description    string    `json:"description,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

func (r *Repo) recordDir() string { return filepath.Join(r.commonDir, "mainline") }

// withRecord runs fn with the record loaded under the lock, then writes it
// back atomically if fn returned nil and write is true. Waiting for the file
// lock does not watch ctx; holders keep it for a few git commands at most.
func (r *Repo) withRecord(ctx context.Context, write bool, fn func(*record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	dir := r.recordDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	unlock, err := lockFile(filepath.Join(dir, "pulls.lock"))
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	defer unlock()

	path := filepath.Join(dir, "pulls.json")
	rec := &record{}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("record: %w", err)
	default:
		if err := json.Unmarshal(data, rec); err != nil {
			return fmt.Errorf("record %s: %w", path, err)
		}
	}
	if rec.Statuses == nil {
		rec.Statuses = make(map[string][]*commitStatus)
	}
	if err := fn(rec); err != nil {
		return err
	}
	if !write {
		return nil
	}
	return writeAtomic(path, rec)
}

// writeAtomic writes v as JSON to a temporary file beside path, syncs it and
// renames it over path, so readers see the old record or the new one, never
// half of one.
func writeAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".pulls-*.json")
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this fails harmlessly
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("record: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("record: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

func (rec *record) pull(number int) (*pull, error) {
	for _, p := range rec.Pulls {
		if p.Number == number {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pull request %d: %w", number, providers.ErrNotFound)
}

func (rec *record) deployment(id int64) (*Deployment, error) {
	for _, d := range rec.Deployments {
		if d.ID == id {
			return d, nil
		}
	}
	return nil, fmt.Errorf("deployment %d: %w", id, providers.ErrNotFound)
}
