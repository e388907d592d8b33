package migrations

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

// Files passes the standard library's file system conformance checks.
func TestFilesIsAConformingFS(t *testing.T) {
	t.Parallel()
	f := Files{"00001_a.sql": []byte("-- +goose Up\nSELECT 1;\n"), "00002_b.sql": []byte("-- +goose Up\nSELECT 2;\n")}
	if err := fstest.TestFS(f, "00001_a.sql", "00002_b.sql"); err != nil {
		t.Fatal(err)
	}
}

func TestFilesRefusesPathsOutsideItsRoot(t *testing.T) {
	t.Parallel()
	f := Files{"00001_a.sql": []byte("x")}
	for _, name := range []string{"../00001_a.sql", "/00001_a.sql", "dir/00001_a.sql", "", "missing.sql"} {
		if _, err := f.Open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q): got %v, want fs.ErrNotExist", name, err)
		}
	}
	if _, err := f.ReadDir("dir"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir(dir): got %v, want fs.ErrNotExist", err)
	}
}

// ReadFile hands out a copy: a caller writing to it cannot change the set
// a rollout is using.
func TestFilesReadFileCopies(t *testing.T) {
	t.Parallel()
	f := Files{"00001_a.sql": []byte("abc")}
	b, err := f.ReadFile("00001_a.sql")
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 'X'
	if string(f["00001_a.sql"]) != "abc" {
		t.Errorf("set changed through ReadFile's result: %q", f["00001_a.sql"])
	}
}
