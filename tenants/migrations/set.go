package migrations

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/pressly/goose/v3"
)

// migrationSet is a migration set read into memory once: every tenant run
// of a Migrator uses the same bytes, whatever happens to the source files
// during a 1,000-tenant rollout.
type migrationSet struct {
	fsys     Files
	versions []int64          // ascending
	files    map[int64]string // version -> file name
}

// loadSet reads the *.sql files at the root of fsys and checks them with
// goose's own rules (numeric prefixes, no duplicate versions).
func loadSet(fsys fs.FS) (*migrationSet, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: list files: %w", err)
	}
	set := &migrationSet{fsys: make(Files, len(names)), files: make(map[int64]string, len(names))}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrations: read %s: %w", name, err)
		}
		set.fsys[name] = data
	}
	// NewProvider collects and validates file names without touching the
	// database; the *sql.DB it needs is never connected.
	db := sql.OpenDB(noConnector{})
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, set.fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: load set: %w", err)
	}
	for _, src := range p.ListSources() {
		if src.Type != goose.TypeSQL {
			return nil, fmt.Errorf("migrations: load set: version %d is not a SQL migration", src.Version)
		}
		set.versions = append(set.versions, src.Version)
		set.files[src.Version] = path.Base(src.Path)
	}
	return set, nil
}

// latest is the highest version of the set.
func (s *migrationSet) latest() int64 { return s.versions[len(s.versions)-1] }

// has reports whether version is in the set.
func (s *migrationSet) has(version int64) bool {
	_, ok := s.files[version]
	return ok
}

// noConnector is a driver.Connector that refuses to connect.
type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("migrations: not connected")
}

func (noConnector) Driver() driver.Driver { return noDriver{} }

type noDriver struct{}

func (noDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("migrations: not connected")
}
