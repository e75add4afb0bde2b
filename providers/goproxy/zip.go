package goproxy

import (
	"bytes"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// ModuleZip returns the zip the go tool downloads from a module proxy for
// path@version (the @v/VERSION.zip of the proxy protocol), made from files
// by slash-separated name. It is how a proxy directory is filled for the
// demo and for tests: in the file-system layout GOPROXY=file:// reads.
func ModuleZip(path, version string, files map[string]string) ([]byte, error) {
	var zfiles []modzip.File
	for _, name := range slices.Sorted(maps.Keys(files)) {
		zfiles = append(zfiles, memFile{name: name, data: []byte(files[name])})
	}
	var buf bytes.Buffer
	if err := modzip.Create(&buf, module.Version{Path: path, Version: version}, zfiles); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// memFile is a module file held in memory, for modzip.Create.
type memFile struct {
	name string
	data []byte
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (fs.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return filepath.Base(i.name) }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
