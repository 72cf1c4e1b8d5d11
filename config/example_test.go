package config_test

import (
	"context"
	"fmt"

	"github.com/sethvargo/go-envconfig"

	"github.com/keylin/keylin/config"
)

// An application embeds config.Settings beside its own settings and loads
// them all with one call. In production, leave the options out: Load reads
// the process environment and ./.env.
func ExampleLoad() {
	type AppSettings struct {
		config.Settings
		StripeKey string `env:"STRIPE_KEY"`
	}

	env := map[string]string{
		"JWT_SECRET":            "8f1c2d3e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
		"DATABASE_URL":          "postgresql+asyncpg://keylin:s3cret@db.internal:5432/app",
		"ALLOWED_ORIGINS":       `["https://app.example.com","https://admin.example.com"]`,
		"ACCESS_TOKEN_LIFETIME": "900", // seconds, as the Python keylin wrote it
		"STRIPE_KEY":            "sk_test_123",
	}
	var s AppSettings
	err := config.Load(context.Background(), &s,
		config.WithLookuper(envconfig.MapLookuper(env)), config.WithDotEnv(""))
	if err != nil {
		fmt.Println(err)
		return
	}
	db, _ := s.Database()
	fmt.Println(s.StripeKey)
	fmt.Println(s.AllowedOrigins)
	fmt.Println(s.AccessTokenLifetime, s.VerifyTokenLifetime)
	fmt.Println(s.VerificationSecret == s.JWTSecret)
	fmt.Println(db.Dialect, db.Redacted)

	// Every invalid variable is reported at once.
	err = config.Load(context.Background(), &AppSettings{},
		config.WithLookuper(envconfig.MapLookuper(map[string]string{
			"JWT_SECRET":      "changeme",
			"HASH_ITERATIONS": "1",
			"LOG_LEVEL":       "loud",
		})), config.WithDotEnv(""))
	fmt.Println(err)
	// Output:
	// sk_test_123
	// [https://app.example.com https://admin.example.com]
	// 15m0s 1h0m0s
	// true
	// postgres postgresql+asyncpg://keylin:xxxxx@db.internal:5432/app
	// config: JWT_SECRET: must not be the placeholder "changeme"; generate one with `openssl rand -hex 32`; HASH_ITERATIONS: 1 is below the minimum of 2 (OWASP's minimum for argon2id is m=19456 KiB, t=2); LOG_LEVEL: must be one of debug, info, warn, error (got "loud")
}

func ExampleParseDatabaseURL() {
	for _, raw := range []string{
		"postgresql+asyncpg://user:pa%40ss@db.example:5432/app?ssl=require",
		"postgresql+psycopg2://user:pw@db.example/app",
		"sqlite+aiosqlite:///./test.db",
		"sqlite:////var/lib/keylin/keylin.db",
		"sqlite://keylin.db",
		"file:test?mode=memory&cache=shared",
	} {
		u, err := config.ParseDatabaseURL(raw)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-8s %-48s %s\n", u.Dialect, u.DSN, u.Redacted)
	}
	_, err := config.ParseDatabaseURL("mysql://root:pw@db/app")
	fmt.Println(err)
	// Output:
	// postgres postgres://user:pa%40ss@db.example:5432/app?sslmode=require postgresql+asyncpg://user:xxxxx@db.example:5432/app?ssl=require
	// postgres postgres://user:pw@db.example/app                postgresql+psycopg2://user:xxxxx@db.example/app
	// sqlite3  ./test.db                                        sqlite+aiosqlite:///./test.db
	// sqlite3  /var/lib/keylin/keylin.db                        sqlite:////var/lib/keylin/keylin.db
	// sqlite3  keylin.db                                        sqlite://keylin.db
	// sqlite3  test?mode=memory&cache=shared                    file:test?mode=memory&cache=shared
	// DATABASE_URL: unsupported scheme "mysql"; accepted forms: postgres://, postgresql://, postgresql+asyncpg://, postgresql+psycopg://, postgresql+psycopg2://, sqlite://, sqlite+aiosqlite://, sqlite+pysqlite://, file:, :memory:
}
