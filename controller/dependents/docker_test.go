package dependents_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mainline-cd/mainline/controller/dependents"
)

// testRegistry serves an OCI registry on 127.0.0.1 and pushes a distinct
// random image under each tag; it returns the registry host and the digest
// of each tag.
func testRegistry(t *testing.T, repo string, tags ...string) (string, map[string]string) {
	t.Helper()
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	digests := map[string]string{}
	for _, tag := range tags {
		digests[tag] = push(t, host+"/"+repo+":"+tag)
	}
	return host, digests
}

func push(t *testing.T, ref string) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestFinderDockerfile(t *testing.T) {
	host, dg := testRegistry(t, "base",
		"latest", "1.22", "1.23", "1.22-alpine", "1.23-alpine", "1.22.3-alpine", "1.22.5-alpine", "1.23.0-alpine", "2.0-alpine")
	base := host + "/base"
	moved := "sha256:" + strings.Repeat("0", 64) // 1.23's digest before the tag was rebuilt
	dockerfile := "# syntax=docker/dockerfile:1\n" +
		"FROM --platform=linux/amd64 " + base + ":1.22-alpine AS build\n" +
		"RUN true\n" +
		"from " + base + ":1.22.3-alpine@" + dg["1.22.3-alpine"] + "\n" +
		"FROM build\n" +
		"FROM scratch\n" +
		"FROM " + base + ":1.23@" + moved + " AS pinned\n" +
		"FROM " + base + ":latest\n" +
		"FROM " + base + "\n"
	f := dependents.Finder{Images: dependents.RemoteImages{Options: []remote.Option{}}}
	ups, left := f.Dockerfile(context.Background(), "build/Dockerfile", []byte(dockerfile), dependents.Policy{Updates: patchMinor})
	if len(left) != 0 {
		t.Errorf("left out: %+v", left)
	}
	var got []string
	for _, u := range ups {
		got = append(got, u.File+" "+u.String()+" "+u.Kind)
	}
	want := []string{
		"build/Dockerfile " + base + " 1.22-alpine → 1.23-alpine minor",
		"build/Dockerfile " + base + " 1.22.3-alpine → 1.23.0-alpine minor",
		"build/Dockerfile " + base + ":1.23 000000000000 → " + strings.TrimPrefix(dg["1.23"], "sha256:")[:12] + " digest",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("upgrades:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ups[1].ToDigest != dg["1.23.0-alpine"] {
		t.Errorf("re-pinned digest = %s, want the digest of 1.23.0-alpine %s", ups[1].ToDigest, dg["1.23.0-alpine"])
	}

	edited := string(dependents.EditDockerfile("build/Dockerfile", []byte(dockerfile), ups))
	wantFile := "# syntax=docker/dockerfile:1\n" +
		"FROM --platform=linux/amd64 " + base + ":1.23-alpine AS build\n" +
		"RUN true\n" +
		"from " + base + ":1.23.0-alpine@" + dg["1.23.0-alpine"] + "\n" +
		"FROM build\n" +
		"FROM scratch\n" +
		"FROM " + base + ":1.23@" + dg["1.23"] + " AS pinned\n" +
		"FROM " + base + ":latest\n" +
		"FROM " + base + "\n"
	if edited != wantFile {
		t.Errorf("EditDockerfile:\n%s\nwant:\n%s", edited, wantFile)
	}
	// Another file's upgrades leave this one alone.
	if other := string(dependents.EditDockerfile("Dockerfile", []byte(dockerfile), ups)); other != dockerfile {
		t.Errorf("EditDockerfile of another file changed it:\n%s", other)
	}
}

func TestFinderDockerfileUnreachable(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more
	f := dependents.Finder{Images: dependents.RemoteImages{Options: []remote.Option{}}}
	ups, left := f.Dockerfile(context.Background(), "Dockerfile", []byte("FROM "+host+"/base:1.22\n"), dependents.Policy{Updates: patchMinor})
	if len(ups) != 0 || len(left) != 1 || !strings.Contains(left[0].Reason, "cannot list tags") {
		t.Errorf("upgrades %v, left out %+v; want one left out: cannot list tags", ups, left)
	}
}
