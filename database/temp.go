package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/lib/pq"
)

// CreateTempPostgres creates a throwaway database on the PostgreSQL server
// adminURL points to (any database there the user may connect to, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), opens it,
// and returns it with a function that closes and drops it.
func CreateTempPostgres(ctx context.Context, adminURL, prefix string) (*DB, func(context.Context) error, error) {
	admin, err := Open(ctx, adminURL)
	if err != nil {
		return nil, nil, err
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		admin.Close()
		return nil, nil, err
	}
	name := prefix + "_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("database: create %s: %w", name, err)
	}
	u, err := url.Parse(admin.URL.DSN)
	if err != nil {
		admin.Close()
		return nil, nil, err
	}
	u.Path = "/" + name
	db, err := Open(ctx, u.String())
	if err != nil {
		admin.ExecContext(ctx, "DROP DATABASE "+pq.QuoteIdentifier(name))
		admin.Close()
		return nil, nil, err
	}
	drop := func(ctx context.Context) error {
		db.Close()
		defer admin.Close()
		_, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
		return err
	}
	return db, drop, nil
}
