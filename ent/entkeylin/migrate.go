package entkeylin

import (
	"strings"

	atlas "ariga.io/atlas/sql/schema"
	entdialect "entgo.io/ent/dialect"
	entschema "entgo.io/ent/dialect/sql/schema"
)

// MigrateOptions are the ent migration options every keylin schema needs,
// for migration generation (diff) and for automatic migration alike. They
// add what ent's schema language cannot express: the unique index on
// lower(email) that makes email uniqueness case-insensitive in the database.
//
// dialect is ent's dialect name (dialect.Postgres or dialect.SQLite): the
// index expression is written the way each database reports it back, so a
// replayed directory shows no drift.
func MigrateOptions(dialect string) []entschema.MigrateOption {
	expr := "lower(email)"
	if dialect == entdialect.Postgres {
		expr = "lower((email)::text)"
	}
	hooks := []entschema.DiffHook{emailLowerIndex(expr)}
	if dialect == entdialect.SQLite {
		hooks = append(hooks, unwrapSQLiteDefaults)
	}
	return []entschema.MigrateOption{
		entschema.WithDiffHook(hooks...),
		entschema.WithDropIndex(true),
		entschema.WithDropColumn(true),
	}
}

// emailLowerIndex adds the expression index to the desired users table.
func emailLowerIndex(expr string) entschema.DiffHook {
	return func(next entschema.Differ) entschema.Differ {
		return entschema.DiffFunc(func(current, desired *atlas.Schema) ([]atlas.Change, error) {
			if t, ok := desired.Table(UsersTable); ok {
				if _, ok := t.Column("email"); ok {
					if _, ok := t.Index(EmailLowerIndex); !ok {
						t.AddIndexes(atlas.NewUniqueIndex(EmailLowerIndex).
							AddParts(&atlas.IndexPart{X: &atlas.RawExpr{X: expr}}))
					}
				}
			}
			return next.Diff(current, desired)
		})
	}
}

// unwrapSQLiteDefaults removes the parentheses ent puts around expression
// defaults on SQLite ("(CURRENT_TIMESTAMP)"): SQLite reports them back
// without, and the difference would show as drift on every diff.
func unwrapSQLiteDefaults(next entschema.Differ) entschema.Differ {
	return entschema.DiffFunc(func(current, desired *atlas.Schema) ([]atlas.Change, error) {
		for _, t := range desired.Tables {
			for _, c := range t.Columns {
				if x, ok := c.Default.(*atlas.RawExpr); ok && strings.HasPrefix(x.X, "(") && strings.HasSuffix(x.X, ")") {
					c.Default = &atlas.RawExpr{X: x.X[1 : len(x.X)-1]}
				}
			}
		}
		return next.Diff(current, desired)
	})
}
