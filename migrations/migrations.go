package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql
var sqliteFiles embed.FS

//go:embed mysql/*.sql
var mysqlFiles embed.FS

// SQLite holds the migrations of the SQLite store, rooted at the sqlite folder.
var SQLite fs.FS = sub(sqliteFiles, "sqlite")

// MySQL holds the migrations of the MySQL/MariaDB store, rooted at the mysql
// folder.
var MySQL fs.FS = sub(mysqlFiles, "mysql")

func sub(fsys embed.FS, dir string) fs.FS {
	f, err := fs.Sub(fsys, dir)
	if err != nil {
		// Unreachable: dir is a literal folder embedded above.
		panic("migrations: " + err.Error())
	}
	return f
}
