//go:build !unix

package gitlocal

import (
	"fmt"
	"os"
	"time"
)

// lockFile takes the lock by creating path exclusively, waiting while another
// holder has it. Unlike flock a crashed holder leaves path behind; it is
// treated as stale after a minute.
func lockFile(path string) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !os.IsExist(err) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(path)
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
}
