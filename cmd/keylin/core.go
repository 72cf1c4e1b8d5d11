package main

import (
	"context"
	"log/slog"

	"entgo.io/ent/dialect"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/ent/migrate/migrations"
)

// core is what every command working on users needs: settings, the
// database, the ent client and the authn Manager.
type core struct {
	settings config.Settings
	db       *database.DB
	client   *ent.Client
	tokens   *authn.Tokens
	hasher   *authn.Hasher
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

// openCore opens the database and builds tokens and hasher from settings.
// migrate applies pending migrations first: always for the embedded SQLite
// default, for PostgreSQL only when asked (production applies them in CI/CD).
func openCore(ctx context.Context, s config.Settings, log *slog.Logger, migrate bool) (*core, error) {
	db, err := database.Open(ctx, s.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if migrate || db.Dialect == dialect.SQLite {
		if err := applyEmbedded(ctx, db, log); err != nil {
			db.Close()
			return nil, err
		}
	}
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret:   []byte(s.JWTSecret),
		VerifySecret:   []byte(s.VerificationSecret),
		ResetSecret:    []byte(s.ResetPasswordSecret),
		AccessLifetime: s.AccessTokenLifetime,
		VerifyLifetime: s.VerifyTokenLifetime,
		ResetLifetime:  s.ResetTokenLifetime,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	hopts := []authn.HasherOption{
		authn.WithHashParams(authn.HashParams{
			Memory: s.HashMemoryKiB, Iterations: s.HashIterations, Parallelism: s.HashParallelism,
			SaltLen: authn.DefaultHashParams().SaltLen, KeyLen: authn.DefaultHashParams().KeyLen,
		}),
		authn.WithMaxHashWait(s.HashMaxWait),
	}
	if s.HashMaxConcurrent > 0 {
		hopts = append(hopts, authn.WithMaxConcurrentHashes(s.HashMaxConcurrent))
	}
	hasher, err := authn.NewHasher(hopts...)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &core{
		settings: s,
		db:       db,
		client:   ent.NewClient(ent.Driver(db.Driver())),
		tokens:   tokens,
		hasher:   hasher,
		log:      log,
	}, nil
}

// manager builds the authn Manager with the given hooks.
func (c *core) manager(hooks authn.Hooks) (*authn.Manager, error) {
	opts := []authn.Option{
		authn.WithHasher(c.hasher),
		authn.WithRequireVerification(c.settings.RequireVerification),
		authn.WithLogger(c.log),
	}
	if hooks != nil {
		opts = append(opts, authn.WithHooks(hooks))
	}
	return authn.NewManager(ent.NewAuthnStore(c.client), c.tokens, opts...)
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
