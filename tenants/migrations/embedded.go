package migrations

import (
	"embed"
	"io/fs"
)

//go:embed *.sql
var embedded embed.FS

// Embedded returns the tenant schema migration set shipped with this
// package: goose-format SQL files named NNNNN_name.sql.
func Embedded() fs.FS { return embedded }
