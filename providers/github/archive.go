package github

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
)

// untarStripped copies the gzipped tar r to w as a plain tar, without the
// pax global header and with the first path element of every entry (GitHub's
// "owner-repo-sha/") removed.
func untarStripped(r io.Reader, w io.Writer) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("tarball: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("tarball: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		_, rest, ok := strings.Cut(h.Name, "/")
		if !ok || rest == "" {
			continue // the top directory itself
		}
		h.Name = rest
		if h.Typeflag == tar.TypeLink {
			if _, target, ok := strings.Cut(h.Linkname, "/"); ok {
				h.Linkname = target
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar %s: %w", h.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("tar %s: %w", h.Name, err)
		}
	}
	return tw.Close()
}
