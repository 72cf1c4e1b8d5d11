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

// core is what serve needs: settings, the database and the ent client.
type core struct {
	settings config.Settings
	db       *database.DB
	client   *ent.Client
	log      *slog.Logger
}

func (c *core) Close() {
	c.client.Close()
}

// loadSettings reads and validates all of keylin's settings: serve uses
// them all, JWT_SECRET included.
func loadSettings(ctx context.Context) (config.Settings, error) {
	var s config.Settings
	if err := config.Load(ctx, &s); err != nil {
		return s, err
	}
	return s, nil
}

// openCore opens the database for serving; see [openDatabase].
func openCore(ctx context.Context, s config.Settings, log *slog.Logger, migrate bool) (*core, error) {
	u, err := s.Database()
	if err != nil {
		return nil, err
	}
	db, err := openDatabase(ctx, u, log, migrate, database.WithIOTimeout(s.DatabaseTimeout), database.WithPool(database.Pool{
		MaxOpen: s.DatabaseMaxOpenConns, MaxIdle: s.DatabaseMaxIdleConns,
		MaxLifetime: s.DatabaseConnMaxLifetime, MaxIdleTime: s.DatabaseConnMaxIdleTime,
	}))
	if err != nil {
		return nil, err
	}
	return &core{settings: s, db: db, client: ent.NewClient(ent.Driver(db.Driver())), log: log}, nil
}

// openDatabase opens the database with opts (serving's I/O timeout and
// pool). migrate applies keylin's embedded migrations first; without
// it they are applied to SQLite only (the embedded default: production
// applies PostgreSQL's in CI/CD), and not to a SQLite database whose
// history is another folder's — an application's, whose users table
// keylin also serves. Migrations run on a connection of their own,
// without opts: a migration's statement may take longer than the timeout.
func openDatabase(ctx context.Context, u config.DatabaseURL, log *slog.Logger, migrate bool, opts ...database.OpenOption) (*database.DB, error) {
	if migrate || u.Dialect == dialect.SQLite {
		mdb, err := database.OpenURL(ctx, u)
		if err != nil {
			return nil, err
		}
		err = applyEmbedded(ctx, mdb, log, migrate)
		mdb.Close()
		if err != nil {
			return nil, err
		}
	}
	return database.OpenURL(ctx, u, opts...)
}

// applyEmbedded applies keylin's embedded migrations to db. Unless force
// is set, a database whose history holds versions keylin's folder does
// not have is left as it is.
func applyEmbedded(ctx context.Context, db *database.DB, log *slog.Logger, force bool) error {
	m, err := database.NewMigrator(db, migrations.FS, database.WithOperatorVersion("keylin "+versionString()))
	if err != nil {
		return err
	}
	if !force {
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if len(st.Unknown) > 0 {
			log.Debug("database has migrations of its own: keylin's are not applied", "version", st.Current)
			return nil
		}
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
