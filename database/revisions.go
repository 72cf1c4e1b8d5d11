package database

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
)

// RevisionsTable is the table applied migrations are recorded in. Its name,
// columns and (on PostgreSQL) schema are those of the Atlas CLI, so that a
// database can be carried on by `atlas migrate apply` and by keylin alike.
const RevisionsTable = "atlas_schema_revisions"

// The Atlas CLI, connected to a whole PostgreSQL database (a URL without
// search_path), keeps its revisions in a schema of the same name.
const revisionsSchemaPostgres = "atlas_schema_revisions"

var revisionsDDL = map[string][]string{
	dialect.Postgres: {
		`CREATE SCHEMA IF NOT EXISTS "atlas_schema_revisions"`,
		`CREATE TABLE IF NOT EXISTS "atlas_schema_revisions"."atlas_schema_revisions" (` +
			`"version" character varying NOT NULL, "description" character varying NOT NULL, ` +
			`"type" bigint NOT NULL DEFAULT 2, "applied" bigint NOT NULL DEFAULT 0, "total" bigint NOT NULL DEFAULT 0, ` +
			`"executed_at" timestamptz NOT NULL, "execution_time" bigint NOT NULL, "error" text NULL, "error_stmt" text NULL, ` +
			`"hash" character varying NOT NULL, "partial_hashes" jsonb NULL, "operator_version" character varying NOT NULL, ` +
			`PRIMARY KEY ("version"))`,
	},
	dialect.SQLite: {
		"CREATE TABLE IF NOT EXISTS `atlas_schema_revisions` (" +
			"`version` text NOT NULL, `description` text NOT NULL, " +
			"`type` integer NOT NULL DEFAULT (2), `applied` integer NOT NULL DEFAULT (0), `total` integer NOT NULL DEFAULT (0), " +
			"`executed_at` datetime NOT NULL, `execution_time` integer NOT NULL, `error` text NULL, `error_stmt` text NULL, " +
			"`hash` text NOT NULL, `partial_hashes` json NULL, `operator_version` text NOT NULL, " +
			"PRIMARY KEY (`version`))",
	},
}

// revisions implements Atlas's migrate.RevisionReadWriter over the
// atlas_schema_revisions table, on a connection or a transaction.
type revisions struct {
	conn    schema.ExecQuerier
	dialect string
}

var _ migrate.RevisionReadWriter = (*revisions)(nil)

func (r *revisions) table() string {
	if r.dialect == dialect.Postgres {
		return `"atlas_schema_revisions"."atlas_schema_revisions"`
	}
	return "`atlas_schema_revisions`"
}

// ph returns the n-th bind placeholder of the dialect.
func (r *revisions) ph(n int) string {
	if r.dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// Ident implements migrate.RevisionReadWriter.
func (r *revisions) Ident() *migrate.TableIdent {
	if r.dialect == dialect.Postgres {
		return &migrate.TableIdent{Name: RevisionsTable, Schema: revisionsSchemaPostgres}
	}
	return &migrate.TableIdent{Name: RevisionsTable}
}

// init creates the table when it does not exist.
func (r *revisions) init(ctx context.Context) error {
	for _, stmt := range revisionsDDL[r.dialect] {
		if _, err := r.conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("database: create %s: %w", RevisionsTable, err)
		}
	}
	return nil
}

// exists reports whether the revisions table is there.
func (r *revisions) exists(ctx context.Context) (bool, error) {
	var q string
	if r.dialect == dialect.Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'atlas_schema_revisions' AND table_name = 'atlas_schema_revisions'`
	} else {
		q = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'atlas_schema_revisions'`
	}
	var n int
	if err := queryRow(ctx, r.conn, q, nil, &n); err != nil {
		return false, fmt.Errorf("database: look for %s: %w", RevisionsTable, err)
	}
	return n > 0, nil
}

const revisionColumns = `version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version`

// ReadRevisions implements migrate.RevisionReadWriter, ordered by version.
func (r *revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	// The Atlas CLI keeps a bookkeeping row of its own in the table.
	rows, err := r.conn.QueryContext(ctx, `SELECT `+revisionColumns+` FROM `+r.table()+` WHERE version <> '.atlas_cloud_identifiers' ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var revs []*migrate.Revision
	for rows.Next() {
		rev, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		revs = append(revs, rev)
	}
	return revs, rows.Err()
}

// ReadRevision implements migrate.RevisionReadWriter.
func (r *revisions) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	rows, err := r.conn.QueryContext(ctx, `SELECT `+revisionColumns+` FROM `+r.table()+` WHERE version = `+r.ph(1), version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, migrate.ErrRevisionNotExist
	}
	return scanRevision(rows)
}

// WriteRevision implements migrate.RevisionReadWriter (insert or update).
func (r *revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	var partial any
	if len(rev.PartialHashes) > 0 {
		b, err := json.Marshal(rev.PartialHashes)
		if err != nil {
			return err
		}
		partial = string(b)
	}
	var args []any
	args = append(args, rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total,
		rev.ExecutedAt.UTC(), int64(rev.ExecutionTime), nullString(rev.Error), nullString(rev.ErrorStmt),
		rev.Hash, partial, rev.OperatorVersion)
	phs := ""
	for i := range args {
		if i > 0 {
			phs += ", "
		}
		phs += r.ph(i + 1)
	}
	q := `INSERT INTO ` + r.table() + ` (` + revisionColumns + `) VALUES (` + phs + `) ` +
		`ON CONFLICT (version) DO UPDATE SET description = excluded.description, type = excluded.type, ` +
		`applied = excluded.applied, total = excluded.total, executed_at = excluded.executed_at, ` +
		`execution_time = excluded.execution_time, error = excluded.error, error_stmt = excluded.error_stmt, ` +
		`hash = excluded.hash, partial_hashes = excluded.partial_hashes, operator_version = excluded.operator_version`
	_, err := r.conn.ExecContext(ctx, q, args...)
	return err
}

// DeleteRevision implements migrate.RevisionReadWriter.
func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.conn.ExecContext(ctx, `DELETE FROM `+r.table()+` WHERE version = `+r.ph(1), version)
	return err
}

func scanRevision(rows *sql.Rows) (*migrate.Revision, error) {
	var (
		rev                    migrate.Revision
		typ, execTime          int64
		errText, errStmt, part sql.NullString
		executedAt             any
	)
	if err := rows.Scan(&rev.Version, &rev.Description, &typ, &rev.Applied, &rev.Total, &executedAt,
		&execTime, &errText, &errStmt, &rev.Hash, &part, &rev.OperatorVersion); err != nil {
		return nil, fmt.Errorf("database: scan %s: %w", RevisionsTable, err)
	}
	rev.Type = migrate.RevisionType(typ)
	rev.ExecutionTime = time.Duration(execTime)
	rev.Error, rev.ErrorStmt = errText.String, errStmt.String
	rev.ExecutedAt = asTime(executedAt)
	if part.Valid && part.String != "" {
		if err := json.Unmarshal([]byte(part.String), &rev.PartialHashes); err != nil {
			return nil, fmt.Errorf("database: %s.partial_hashes of %s: %w", RevisionsTable, rev.Version, err)
		}
	}
	return &rev, nil
}

// asTime reads a timestamp as either driver returns it.
func asTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05"} {
			if p, err := time.Parse(layout, t); err == nil {
				return p
			}
		}
	}
	return time.Time{}
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func queryRow(ctx context.Context, q schema.ExecQuerier, query string, args []any, dest ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return errors.Join(rows.Err(), rows.Close())
}
