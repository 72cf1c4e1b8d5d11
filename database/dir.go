package database

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

// DialectDir is the name of a dialect's migration directory: "postgres" or
// "sqlite".
func DialectDir(entDialect string) string {
	if entDialect == dialect.SQLite {
		return "sqlite"
	}
	return entDialect
}

// dialectName is how errors name a dialect.
func dialectName(d string) string {
	switch d {
	case dialect.Postgres:
		return "PostgreSQL"
	case dialect.SQLite:
		return "SQLite"
	}
	return d
}

// dialectOfFolder is the dialect a folder is for by its name, "" for
// another name.
func dialectOfFolder(name string) string {
	switch path.Base(name) {
	case "postgres":
		return dialect.Postgres
	case "sqlite":
		return dialect.SQLite
	}
	return ""
}

// migrationDir is a migration folder read into memory.
type migrationDir struct {
	mem  *migrate.MemDir
	name string // the folder as the caller knows it: "postgres", "sqlite", "." or WithDir's path
}

// readMigrationDir finds the migration folder of fsys for a database of
// dialect d, reads it and checks it is written for d.
//
// sub is WithDir's path, or "". Without it, fsys is either a directory
// holding one folder per dialect (postgres/, sqlite/), of which d's is
// taken, or one dialect's folder itself.
func readMigrationDir(fsys fs.FS, sub, d, dbName string) (*migrationDir, error) {
	name := sub
	if name == "" {
		name = "."
		pg, sq := isDir(fsys, DialectDir(dialect.Postgres)), isDir(fsys, DialectDir(dialect.SQLite))
		switch {
		case isDir(fsys, DialectDir(d)):
			name = DialectDir(d)
		case pg || sq:
			other := dialect.Postgres
			if sq {
				other = dialect.SQLite
			}
			return nil, fmt.Errorf("%w: the migrations hold a folder for %s only (%s/), and the database %s is %s",
				ErrDialectMismatch, dialectName(other), DialectDir(other), dbName, dialectName(d))
		}
	}
	entries, err := fs.ReadDir(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("database: read migration folder %s: %w", name, err)
	}
	mem := &migrate.MemDir{}
	mem.SetPath(name)
	var sqlFiles, sum int
	for _, e := range entries {
		switch {
		case e.IsDir():
			continue
		case strings.HasSuffix(e.Name(), ".sql"):
			sqlFiles++
		case e.Name() == migrate.HashFileName:
			sum++
		default:
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(name, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("database: read migration %s: %w", path.Join(name, e.Name()), err)
		}
		if err := mem.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	if sqlFiles+sum == 0 {
		return nil, fmt.Errorf("%w in folder %q (want .sql files and atlas.sum, or a postgres/ and a sqlite/ folder)", ErrNoMigrations, name)
	}
	dir := &migrationDir{mem: mem, name: name}
	if err := dir.checkDialect(d, dbName); err != nil {
		return nil, err
	}
	return dir, nil
}

func isDir(fsys fs.FS, name string) bool {
	fi, err := fs.Stat(fsys, name)
	return err == nil && fi.IsDir()
}

// checkDialect fails with ErrDialectMismatch when the folder is for
// another dialect than d: by its name when it is postgres or sqlite,
// otherwise by how its statements quote identifiers. A folder that tells
// neither way is taken as it is.
func (m *migrationDir) checkDialect(d, dbName string) error {
	got, why := dialectOfFolder(m.name), "by its name"
	if got == "" {
		files, err := m.mem.Files()
		if err != nil {
			return fmt.Errorf("database: read migration folder %s: %w", m.name, err)
		}
		got, why = dialectOfFiles(files)
	}
	if got == "" || got == d {
		return nil
	}
	return fmt.Errorf("%w: migration folder %q is for %s (%s), and the database %s is %s",
		ErrDialectMismatch, m.name, dialectName(got), why, dbName, dialectName(d))
}

// dialectOfFiles tells a folder's dialect from its statements: Atlas (and
// ent) write SQLite identifiers in backquotes, which PostgreSQL refuses,
// and PostgreSQL identifiers in double quotes. A backquote anywhere outside
// comments and string literals means SQLite; otherwise double-quoted
// identifiers mean PostgreSQL; a folder with neither (unquoted identifiers)
// tells nothing. why says which file told.
func dialectOfFiles(files []migrate.File) (d, why string) {
	var dq string
	for _, f := range files {
		bq, q := quoting(string(f.Bytes()))
		if bq {
			return dialect.SQLite, fmt.Sprintf("%s quotes identifiers with backquotes", f.Name())
		}
		if q && dq == "" {
			dq = f.Name()
		}
	}
	if dq != "" {
		return dialect.Postgres, fmt.Sprintf("%s quotes identifiers with double quotes", dq)
	}
	return "", ""
}

// quoting reports whether sql has backquotes and double quotes outside
// comments, string literals and PostgreSQL dollar-quoted bodies.
func quoting(sql string) (backquote, doubleQuote bool) {
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return
			}
			i += j
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return
			}
			i += j + 3
		case c == '\'':
			// '' inside a literal is an escaped quote: the loop sees it as
			// the end of one literal and the start of the next.
			j := strings.IndexByte(sql[i+1:], '\'')
			if j < 0 {
				return
			}
			i += j + 1
		case c == '$':
			if tag, ok := dollarTag(sql[i:]); ok {
				j := strings.Index(sql[i+len(tag):], tag)
				if j < 0 {
					return
				}
				i += len(tag) + j + len(tag) - 1
			}
		case c == '`' || c == '"':
			if c == '`' {
				backquote = true
			} else {
				doubleQuote = true
			}
			// Skip the identifier: a quote of the other kind inside it
			// is part of the name.
			j := strings.IndexByte(sql[i+1:], c)
			if j < 0 {
				return
			}
			i += j + 1
		}
	}
	return
}

// dollarTag returns the opening tag of a PostgreSQL dollar-quoted string
// ($$ or $name$) at the start of s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 1 && c >= '0' && c <= '9':
		default:
			return "", false
		}
	}
	return "", false
}
