package main

import (
	"context"
	"log/slog"

	"entgo.io/ent/dialect"

	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/ent/migrate/migrations"
)

// core is what every command working on users needs: settings, the
// database and the ent client.
type core struct {
	settings config.Settings
	db       *database.DB
	client   *ent.Client
	log      *slog.Logger
}

func (c *core) Close() {
	c.client.Close()
}

// loadSettings reads and validates keylin's settings.
func loadSettings(ctx context.Context) (config.Settings, error) {
	var s config.Settings
	if err := config.Load(ctx, &s); err != nil {
		return s, err
	}
	return s, nil
}

// openCore opens the database for serving (database calls time out after
// DATABASE_TIMEOUT). migrate applies pending migrations first: always for
// the embedded SQLite default, for PostgreSQL only when asked (production
// applies them in CI/CD). Migrations run on a connection of their own,
// without the serving timeout: a migration's statement may take longer.
func openCore(ctx context.Context, s config.Settings, log *slog.Logger, migrate bool) (*core, error) {
	u, err := s.Database()
	if err != nil {
		return nil, err
	}
	if migrate || u.Dialect == dialect.SQLite {
		mdb, err := database.OpenURL(ctx, u)
		if err != nil {
			return nil, err
		}
		err = applyEmbedded(ctx, mdb, log)
		mdb.Close()
		if err != nil {
			return nil, err
		}
	}
	db, err := database.OpenURL(ctx, u, database.WithIOTimeout(s.DatabaseTimeout), database.WithPool(database.Pool{
		MaxOpen: s.DatabaseMaxOpenConns, MaxIdle: s.DatabaseMaxIdleConns,
		MaxLifetime: s.DatabaseConnMaxLifetime, MaxIdleTime: s.DatabaseConnMaxIdleTime,
	}))
	if err != nil {
		return nil, err
	}
	return &core{settings: s, db: db, client: ent.NewClient(ent.Driver(db.Driver())), log: log}, nil
}

func applyEmbedded(ctx context.Context, db *database.DB, log *slog.Logger) error {
	dir, err := database.DirFS(migrations.FS, database.DialectDir(db.Dialect))
	if err != nil {
		return err
	}
	m, err := database.NewMigrator(db, dir, database.WithOperatorVersion("keylin "+versionString()))
	if err != nil {
		return err
	}
	res, err := m.Apply(ctx)
	if err != nil {
		return err
	}
	for _, f := range res.Applied {
		log.Info("migration applied", "file", f.Name, "statements", f.Statements)
	}
	if len(res.Applied) == 0 {
		log.Debug("database schema up to date", "version", res.Current)
	}
	return nil
}

// quietLogger discards everything below warnings, for one-shot commands.
func quietLogger(e *env) *slog.Logger {
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
