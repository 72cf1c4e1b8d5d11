package database

import (
	"path/filepath"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

// TestDialectOfCommittedFiles: every committed migration folder — keylin's
// and examples/extend's — is told apart by its files alone: Atlas writes
// SQLite identifiers in backquotes and PostgreSQL ones in double quotes.
func TestDialectOfCommittedFiles(t *testing.T) {
	for _, root := range []string{"../ent/migrate/migrations", "../examples/extend/ent/migrate/migrations"} {
		for _, d := range []string{dialect.Postgres, dialect.SQLite} {
			p := filepath.Join(root, DialectDir(d))
			t.Run(p, func(t *testing.T) {
				dir, err := migrate.NewLocalDir(p)
				if err != nil {
					t.Fatal(err)
				}
				files, err := dir.Files()
				if err != nil || len(files) == 0 {
					t.Fatalf("%d files, %v", len(files), err)
				}
				for _, f := range files {
					bq, dq := quoting(string(f.Bytes()))
					if bq == dq || bq != (d == dialect.SQLite) {
						t.Errorf("%s: backquotes %v, double quotes %v", f.Name(), bq, dq)
					}
				}
				if got, why := dialectOfFiles(files); got != d {
					t.Fatalf("dialect by files = %q (%s), want %q", got, why, d)
				}
			})
		}
	}
}

func TestQuoting(t *testing.T) {
	for _, c := range []struct {
		sql    string
		bq, dq bool
	}{
		{"CREATE TABLE t (id int);", false, false},
		{"-- Create \"t\" table\nCREATE TABLE `t` (`id` int);", true, false},
		{"/* `x` */ CREATE TABLE \"t\" (\"id\" int);", false, true},
		{"INSERT INTO t VALUES ('a `b` \"c\"', 'it''s');", false, false},
		{"CREATE FUNCTION f() RETURNS int AS $body$ SELECT `x` $body$ LANGUAGE sql;", false, false},
		{"CREATE FUNCTION f() RETURNS int AS $$ SELECT \"x\" $$ LANGUAGE sql;", false, false},
		{"SELECT $1, \"a`b\";", false, true},
		{"-- only a comment `x`", false, false},
	} {
		bq, dq := quoting(c.sql)
		if bq != c.bq || dq != c.dq {
			t.Errorf("quoting(%q) = %v, %v; want %v, %v", c.sql, bq, dq, c.bq, c.dq)
		}
	}
}
