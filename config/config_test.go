package config_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/config"
)

const (
	secret  = "0123456789abcdef0123456789abcdef" // 32 bytes
	secret2 = "fedcba9876543210fedcba9876543210"
)

// load runs config.Load on a *Settings with env as the whole environment and
// no .env file.
func load(t *testing.T, env map[string]string) (config.Settings, error) {
	t.Helper()
	var s config.Settings
	err := config.Load(context.Background(), &s, config.WithLookuper(envconfig.MapLookuper(env)), config.WithDotEnv(""))
	return s, err
}

// mustLoad is load that fails the test on error.
func mustLoad(t *testing.T, env map[string]string) config.Settings {
	t.Helper()
	s, err := load(t, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

// with returns a valid environment (JWT_SECRET set) plus kv.
func with(kv ...string) map[string]string {
	env := map[string]string{"JWT_SECRET": secret}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// varErr returns the error Load reported about name, failing if there is none.
func varErr(t *testing.T, err error, name string) *config.VarError {
	t.Helper()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *config.ValidationError", err, err)
	}
	v := ve.Var(name)
	if v == nil {
		t.Fatalf("error %q does not name %s", err, name)
	}
	if !strings.Contains(err.Error(), name+": ") {
		t.Fatalf("message %q does not name %s", err, name)
	}
	return v
}

func TestLoad_Defaults(t *testing.T) {
	s := mustLoad(t, with())
	want := config.Settings{
		JWTSecret:           secret,
		ResetPasswordSecret: secret,
		VerificationSecret:  secret,
		DatabaseURL:         "sqlite://keylin.db",
		AccessTokenLifetime: time.Hour,
		VerifyTokenLifetime: time.Hour,
		ResetTokenLifetime:  time.Hour,
		HashMemoryKiB:       65536,
		HashIterations:      3,
		HashParallelism:     4,
		HashMaxConcurrent:   0,
		HashMaxWait:         5 * time.Second,
		MailURL:             "console:",
		MailFrom:            "keylin@localhost",
		MailAppName:         "keylin",
		VerifyURL:           "http://localhost:8000/verify?token={token}",
		ResetPasswordURL:    "http://localhost:8000/reset-password?token={token}",
		CookieName:          "fastapiusersauth",
		CookieSecure:        true,
		LogLevel:            "info",

		RefreshTokens:        true,
		RefreshTokenLifetime: 720 * time.Hour,
		SessionMaxLifetime:   2160 * time.Hour,
		DatabaseTimeout:      5 * time.Second,
		OpenAPI:              true,
		RateLimitStore:       "database",

		RateLimitLoginIP:                authn.Limit{Count: 30, Period: time.Minute},
		RateLimitLoginFailuresAccountIP: authn.Limit{Count: 10, Period: 15 * time.Minute},
		RateLimitLoginFailuresAccount:   authn.Limit{Count: 50, Period: time.Hour},
		RateLimitRegisterIP:             authn.Limit{Count: 20, Period: time.Hour},
		RateLimitRegisterAccount:        authn.Limit{Count: 5, Period: time.Hour},
		RateLimitForgotPasswordIP:       authn.Limit{Count: 20, Period: time.Hour},
		RateLimitForgotPasswordAccount:  authn.Limit{Count: 5, Period: time.Hour},
		RateLimitRequestVerifyIP:        authn.Limit{Count: 20, Period: time.Hour},
		RateLimitRequestVerifyAccount:   authn.Limit{Count: 5, Period: time.Hour},
		RateLimitVerifyIP:               authn.Limit{Count: 30, Period: time.Hour},
		RateLimitVerifyAccount:          authn.Limit{Count: 10, Period: time.Hour},
		RateLimitResetPasswordIP:        authn.Limit{Count: 30, Period: time.Hour},
		RateLimitResetPasswordAccount:   authn.Limit{Count: 10, Period: time.Hour},
		RateLimitRefreshIP:              authn.Limit{Count: 120, Period: time.Minute},
		RateLimitRefreshAccount:         authn.Limit{Count: 30, Period: time.Minute},
		MailLimitPerAddress:             authn.Limit{Count: 3, Period: time.Hour},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", s, want)
	}
	if len(s.AllowedOrigins) != 0 || len(s.TrustedProxies) != 0 {
		t.Fatalf("lists not empty: %q %q", s.AllowedOrigins, s.TrustedProxies)
	}
	if got := s.Limits(); !reflect.DeepEqual(got, authn.DefaultLimits()) {
		t.Fatalf("Limits() of the default settings = %+v, want authn.DefaultLimits() %+v", got, authn.DefaultLimits())
	}
	if s.Level() != slog.LevelInfo {
		t.Fatalf("Level() = %v", s.Level())
	}
	db, err := s.Database()
	if err != nil || db.Dialect != config.DialectSQLite || db.DSN != "keylin.db" {
		t.Fatalf("Database() = %+v, %v", db, err)
	}
}

func TestLoad_JWTSecret(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		is      error
		message string
	}{
		{"Missing", map[string]string{}, config.ErrRequired, "JWT_SECRET: required; generate one with `openssl rand -hex 32`"},
		{"Empty", map[string]string{"JWT_SECRET": ""}, config.ErrRequired, "JWT_SECRET: required"},
		{"Blank", map[string]string{"JWT_SECRET": "   "}, config.ErrRequired, "JWT_SECRET: required"},
		{"Changeme", map[string]string{"JWT_SECRET": "changeme"}, config.ErrWeakSecret, `JWT_SECRET: must not be the placeholder "changeme"; generate one`},
		{"ChangemeUpper", map[string]string{"JWT_SECRET": "CHANGEME"}, config.ErrWeakSecret, `JWT_SECRET: must not be the placeholder "changeme"; generate one`},
		{"Short", map[string]string{"JWT_SECRET": "0123456789"}, config.ErrWeakSecret, "JWT_SECRET: must be at least 32 bytes (got 10); generate one with `openssl rand -hex 32`"},
		{"OneShort", map[string]string{"JWT_SECRET": secret[1:]}, config.ErrWeakSecret, "(got 31)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.env)
			v := varErr(t, err, "JWT_SECRET")
			if !errors.Is(err, tc.is) || !errors.Is(v, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not contain %q", err, tc.message)
			}
			if s := tc.env["JWT_SECRET"]; len(s) > 4 && !strings.EqualFold(s, "changeme") && strings.Contains(err.Error(), s) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	t.Run("Valid", func(t *testing.T) {
		if s := mustLoad(t, with()); s.JWTSecret != secret {
			t.Fatalf("JWTSecret = %q", s.JWTSecret)
		}
	})
}

func TestLoad_OtherSecrets(t *testing.T) {
	for _, name := range []string{"RESET_PASSWORD_SECRET", "VERIFICATION_SECRET"} {
		get := func(s config.Settings) string {
			if name == "RESET_PASSWORD_SECRET" {
				return s.ResetPasswordSecret
			}
			return s.VerificationSecret
		}
		t.Run(name, func(t *testing.T) {
			t.Run("UnsetDefaultsToJWTSecret", func(t *testing.T) {
				if got := get(mustLoad(t, with())); got != secret {
					t.Fatalf("%s = %q, want JWT_SECRET", name, got)
				}
			})
			t.Run("EmptyDefaultsToJWTSecret", func(t *testing.T) {
				if got := get(mustLoad(t, with(name, ""))); got != secret {
					t.Fatalf("%s = %q, want JWT_SECRET", name, got)
				}
			})
			t.Run("Set", func(t *testing.T) {
				if got := get(mustLoad(t, with(name, secret2))); got != secret2 {
					t.Fatalf("%s = %q", name, got)
				}
			})
			t.Run("Short", func(t *testing.T) {
				_, err := load(t, with(name, "short"))
				if v := varErr(t, err, name); !errors.Is(v, config.ErrWeakSecret) || !strings.Contains(v.Error(), "at least 32 bytes (got 5)") {
					t.Fatalf("error %v", v)
				}
			})
			t.Run("Changeme", func(t *testing.T) {
				_, err := load(t, with(name, "ChangeMe"))
				varErr(t, err, name)
			})
		})
	}
}

func TestLoad_Lists(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"JSONArray", `["https://a.io","https://b.io"]`, []string{"https://a.io", "https://b.io"}},
		{"JSONArraySpaced", ` [ "https://a.io" , "https://b.io" ] `, []string{"https://a.io", "https://b.io"}},
		{"Bracketed", `[a, b]`, []string{"a", "b"}},
		{"Plain", `a,b`, []string{"a", "b"}},
		{"MixedQuotes", `'a', "b"`, []string{"a", "b"}},
		{"EmptyItemsDropped", `a,, ,b,`, []string{"a", "b"}},
		{"One", `https://a.io`, []string{"https://a.io"}},
		{"EmptyArray", `[]`, nil},
		{"Empty", ``, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustLoad(t, with("ALLOWED_ORIGINS", tc.in))
			if !slices.Equal(s.AllowedOrigins, tc.want) {
				t.Fatalf("AllowedOrigins = %q, want %q", s.AllowedOrigins, tc.want)
			}
			if got := config.ParseList(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("ParseList = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("TrustedProxies", func(t *testing.T) {
		s := mustLoad(t, with("TRUSTED_PROXIES", `["10.0.0.0/8", "127.0.0.1", "::1"]`))
		if want := []string{"10.0.0.0/8", "127.0.0.1", "::1"}; !slices.Equal(s.TrustedProxies, want) {
			t.Fatalf("TrustedProxies = %q", s.TrustedProxies)
		}
	})
	t.Run("TrustedProxiesInvalid", func(t *testing.T) {
		_, err := load(t, with("TRUSTED_PROXIES", "10.0.0.1,proxy.local"))
		if v := varErr(t, err, "TRUSTED_PROXIES"); !strings.Contains(v.Error(), `"proxy.local"`) {
			t.Fatalf("error %v", v)
		}
	})
}

func TestLoad_Durations(t *testing.T) {
	for _, name := range []string{"ACCESS_TOKEN_LIFETIME", "VERIFY_TOKEN_LIFETIME", "RESET_TOKEN_LIFETIME", "HASH_MAX_WAIT"} {
		get := func(s config.Settings) time.Duration {
			switch name {
			case "ACCESS_TOKEN_LIFETIME":
				return s.AccessTokenLifetime
			case "VERIFY_TOKEN_LIFETIME":
				return s.VerifyTokenLifetime
			case "RESET_TOKEN_LIFETIME":
				return s.ResetTokenLifetime
			}
			return s.HashMaxWait
		}
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name, in string
				want     time.Duration
			}{
				{"GoDuration", "2h", 2 * time.Hour},
				{"GoDurationMixed", "1h30m", 90 * time.Minute},
				{"Seconds", "3600", time.Hour},
				{"SecondsSpaced", " 900 ", 15 * time.Minute},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if got := get(mustLoad(t, with(name, tc.in))); got != tc.want {
						t.Fatalf("%s=%q: got %v, want %v", name, tc.in, got, tc.want)
					}
				})
			}
			for _, tc := range []struct{ name, in, message string }{
				{"Zero", "0", "must be greater than 0"},
				{"ZeroDuration", "0s", "must be greater than 0"},
				{"Negative", "-5", "must be greater than 0"},
				{"Garbage", "soon", `must be a duration such as "1h" or "90s", or a number of seconds (got "soon")`},
				{"Fraction", "1.5", "must be a duration"},
				{"Overflow", "99999999999999", "out of range"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := load(t, with(name, tc.in))
					if v := varErr(t, err, name); !strings.Contains(v.Error(), tc.message) {
						t.Fatalf("error %q does not contain %q", v, tc.message)
					}
				})
			}
		})
	}
}

func TestLoad_Hashing(t *testing.T) {
	t.Run("Set", func(t *testing.T) {
		s := mustLoad(t, with("HASH_MEMORY_KIB", "19456", "HASH_ITERATIONS", "2", "HASH_PARALLELISM", "1", "HASH_MAX_CONCURRENT", "2", "HASH_MAX_WAIT", "2s"))
		if s.HashMemoryKiB != 19456 || s.HashIterations != 2 || s.HashParallelism != 1 || s.HashMaxConcurrent != 2 || s.HashMaxWait != 2*time.Second {
			t.Fatalf("got %+v", s)
		}
	})
	t.Run("EmptyMeansDefault", func(t *testing.T) {
		s := mustLoad(t, with("HASH_MEMORY_KIB", "", "HASH_ITERATIONS", " "))
		if s.HashMemoryKiB != 65536 || s.HashIterations != 3 {
			t.Fatalf("got %d %d", s.HashMemoryKiB, s.HashIterations)
		}
	})
	t.Run("LeadingZeroIsDecimal", func(t *testing.T) {
		if s := mustLoad(t, with("HASH_ITERATIONS", "010")); s.HashIterations != 10 {
			t.Fatalf("HashIterations = %d", s.HashIterations)
		}
	})
	for _, tc := range []struct{ name, variable, in, message string }{
		{"MemoryBelowOWASP", "HASH_MEMORY_KIB", "19455", "19455 KiB is below the minimum of 19456 KiB"},
		{"MemoryAboveSanity", "HASH_MEMORY_KIB", "2097152", "is above the maximum of 1048576 KiB"},
		{"IterationsAboveSanity", "HASH_ITERATIONS", "11", "11 is above the maximum of 10"},
		{"MemoryNotANumber", "HASH_MEMORY_KIB", "64MiB", `must be a whole number from 0 to 4294967295 (got "64MiB")`},
		{"IterationsBelowOWASP", "HASH_ITERATIONS", "1", "1 is below the minimum of 2"},
		{"IterationsNegative", "HASH_ITERATIONS", "-3", "must be a whole number"},
		{"ParallelismZero", "HASH_PARALLELISM", "0", "0 is below the minimum of 1"},
		{"ParallelismAboveSanity", "HASH_PARALLELISM", "17", "17 is above the maximum of 16"},
		{"ParallelismTooBig", "HASH_PARALLELISM", "256", "from 0 to 255"},
		{"MaxConcurrentNegative", "HASH_MAX_CONCURRENT", "-1", "must be 0 (one per CPU) or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, with(tc.variable, tc.in))
			if v := varErr(t, err, tc.variable); !strings.Contains(v.Error(), tc.message) {
				t.Fatalf("error %q does not contain %q", v, tc.message)
			}
		})
	}
}

func TestLoad_Mail(t *testing.T) {
	t.Run("Set", func(t *testing.T) {
		s := mustLoad(t, with(
			"MAIL_URL", "smtp://u:p@mail.example:587",
			"MAIL_FROM", "Keylin <no-reply@example.com>",
			"VERIFY_URL", "https://app.example/verify/{token}",
			"RESET_PASSWORD_URL", "https://app.example/reset?t={token}",
			"SEND_VERIFY_ON_REGISTER", "true",
		))
		if s.MailURL != "smtp://u:p@mail.example:587" || s.MailFrom != "Keylin <no-reply@example.com>" ||
			s.VerifyURL != "https://app.example/verify/{token}" || s.ResetPasswordURL != "https://app.example/reset?t={token}" ||
			!s.SendVerifyOnRegister {
			t.Fatalf("got %+v", s)
		}
	})
	t.Run("Templates", func(t *testing.T) {
		dir := t.TempDir()
		if s := mustLoad(t, with("MAIL_TEMPLATES", dir)); s.MailTemplates != dir {
			t.Fatalf("MailTemplates = %q", s.MailTemplates)
		}
		if s := mustLoad(t, with()); s.MailTemplates != "" {
			t.Fatalf("MailTemplates defaults to %q", s.MailTemplates)
		}
	})
	file := filepath.Join(t.TempDir(), "verify.txt")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, variable, in, message string }{
		{"TemplatesMissing", "MAIL_TEMPLATES", filepath.Join(t.TempDir(), "nope"), "must be a directory of mail templates"},
		{"TemplatesNotADirectory", "MAIL_TEMPLATES", file, "must be a directory of mail templates"},
		{"MailURLNoScheme", "MAIL_URL", "mail.example", "must be a URL with a scheme"},
		{"MailFromInvalid", "MAIL_FROM", "not an address", "must be an address such as"},
		{"VerifyURLNoToken", "VERIFY_URL", "https://app.example/verify", "must contain {token}"},
		{"ResetURLNotHTTP", "RESET_PASSWORD_URL", "ftp://x/{token}", "must be an absolute http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, with(tc.variable, tc.in))
			if v := varErr(t, err, tc.variable); !strings.Contains(v.Error(), tc.message) {
				t.Fatalf("error %q does not contain %q", v, tc.message)
			}
		})
	}
}

func TestLoad_Bools(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"true", true}, {"1", true}, {"yes", true}, {"On", true}, {"TRUE", true},
		{"false", false}, {"0", false}, {"no", false}, {"off", false}, {"", false},
	} {
		t.Run("Value="+tc.in, func(t *testing.T) {
			s := mustLoad(t, with("REQUIRE_VERIFICATION", tc.in, "SEND_VERIFY_ON_REGISTER", tc.in))
			if s.RequireVerification != tc.want || s.SendVerifyOnRegister != tc.want {
				t.Fatalf("%q: got %v %v", tc.in, s.RequireVerification, s.SendVerifyOnRegister)
			}
		})
	}
	t.Run("Invalid", func(t *testing.T) {
		_, err := load(t, with("REQUIRE_VERIFICATION", "maybe"))
		if v := varErr(t, err, "REQUIRE_VERIFICATION"); !strings.Contains(v.Error(), `must be true or false (got "maybe")`) {
			t.Fatalf("error %v", v)
		}
	})
}

func TestLoad_LogLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want slog.Level
	}{
		{"debug", slog.LevelDebug}, {"INFO", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"Error", slog.LevelError}, {"", slog.LevelInfo},
	} {
		t.Run("Value="+tc.in, func(t *testing.T) {
			if s := mustLoad(t, with("LOG_LEVEL", tc.in)); s.Level() != tc.want {
				t.Fatalf("Level() = %v, want %v", s.Level(), tc.want)
			}
		})
	}
	t.Run("Invalid", func(t *testing.T) {
		_, err := load(t, with("LOG_LEVEL", "loud"))
		varErr(t, err, "LOG_LEVEL")
	})
}

func TestLoad_DatabaseURL(t *testing.T) {
	t.Run("Set", func(t *testing.T) {
		s := mustLoad(t, with("DATABASE_URL", "postgresql+asyncpg://user:pa%40ss@db.example:5432/app"))
		db, err := s.Database()
		if err != nil || db.Dialect != config.DialectPostgres || db.Host != "db.example:5432" {
			t.Fatalf("Database() = %+v, %v", db, err)
		}
	})
	t.Run("EmptyMeansDefault", func(t *testing.T) {
		if s := mustLoad(t, with("DATABASE_URL", "")); s.DatabaseURL != "sqlite://keylin.db" {
			t.Fatalf("DatabaseURL = %q", s.DatabaseURL)
		}
	})
	t.Run("Unsupported", func(t *testing.T) {
		_, err := load(t, with("DATABASE_URL", "mysql://root:hunter2hunter2@db/app"))
		v := varErr(t, err, "DATABASE_URL")
		if !errors.Is(v, config.ErrUnsupportedDatabase) || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error %v", err)
		}
		if strings.Count(err.Error(), "DATABASE_URL") != 1 {
			t.Fatalf("error %q names DATABASE_URL more than once", err)
		}
	})
}

// TestLoad_AllErrorsAtOnce checks that Load reports every invalid variable,
// those that do not parse and those Validate refuses, in one error.
func TestLoad_AllErrorsAtOnce(t *testing.T) {
	_, err := load(t, map[string]string{
		// JWT_SECRET missing
		"VERIFICATION_SECRET":   "changeme",
		"DATABASE_URL":          "mysql://u:topsecretpw@db/app",
		"ACCESS_TOKEN_LIFETIME": "soon",
		"RESET_TOKEN_LIFETIME":  "0",
		"HASH_MEMORY_KIB":       "lots",
		"HASH_ITERATIONS":       "1",
		"REQUIRE_VERIFICATION":  "perhaps",
		"LOG_LEVEL":             "chatty",
	})
	if err == nil {
		t.Fatal("Load succeeded")
	}
	names := []string{
		"JWT_SECRET", "VERIFICATION_SECRET", "DATABASE_URL", "ACCESS_TOKEN_LIFETIME", "RESET_TOKEN_LIFETIME",
		"HASH_MEMORY_KIB", "HASH_ITERATIONS", "REQUIRE_VERIFICATION", "LOG_LEVEL",
	}
	for _, name := range names {
		varErr(t, err, name)
	}
	var ve *config.ValidationError
	errors.As(err, &ve)
	if len(ve.Vars) != len(names) {
		t.Errorf("%d errors, want %d (one per variable): %v", len(ve.Vars), len(names), err)
	}
	if !strings.HasPrefix(err.Error(), "config: ") || strings.Contains(err.Error(), "topsecretpw") {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, config.ErrRequired) || !errors.Is(err, config.ErrWeakSecret) || !errors.Is(err, config.ErrUnsupportedDatabase) {
		t.Errorf("errors.Is does not see every reason in %v", err)
	}
	t.Logf("%v", err)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_DotEnv(t *testing.T) {
	dotenv := "# keylin\nJWT_SECRET=" + secret + "\n" +
		"export HASH_ITERATIONS=4\n" +
		`ALLOWED_ORIGINS='["https://a.io","https://b.io"]'` + "\n" +
		"LOG_LEVEL=debug # trailing comment\n"

	t.Run("WithDotEnvPath", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "settings.env", dotenv)
		var s config.Settings
		err := config.Load(context.Background(), &s, config.WithLookuper(envconfig.MapLookuper(nil)), config.WithDotEnv(p))
		if err != nil {
			t.Fatal(err)
		}
		if s.JWTSecret != secret || s.HashIterations != 4 || s.LogLevel != "debug" ||
			!slices.Equal(s.AllowedOrigins, []string{"https://a.io", "https://b.io"}) {
			t.Fatalf("got %+v", s)
		}
	})
	t.Run("EnvironmentWinsOverDotEnv", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), ".env", dotenv)
		var s config.Settings
		err := config.Load(context.Background(), &s, config.WithDotEnv(p),
			config.WithLookuper(envconfig.MapLookuper(map[string]string{"JWT_SECRET": secret2, "HASH_ITERATIONS": "5"})))
		if err != nil {
			t.Fatal(err)
		}
		if s.JWTSecret != secret2 || s.HashIterations != 5 || s.LogLevel != "debug" {
			t.Fatalf("got %+v", s)
		}
	})
	t.Run("WorkingDirectoryAndProcessEnvironment", func(t *testing.T) {
		t.Chdir(t.TempDir())
		writeFile(t, ".", ".env", dotenv)
		t.Setenv("HASH_ITERATIONS", "6")
		var s config.Settings
		if err := config.Load(context.Background(), &s); err != nil {
			t.Fatal(err)
		}
		if s.JWTSecret != secret || s.HashIterations != 6 {
			t.Fatalf("got %+v", s)
		}
		if _, ok := os.LookupEnv("JWT_SECRET"); ok {
			t.Fatal("Load set JWT_SECRET in the process environment")
		}
	})
	t.Run("Missing", func(t *testing.T) {
		err := config.Load(context.Background(), new(config.Settings),
			config.WithLookuper(envconfig.MapLookuper(with())), config.WithDotEnv(filepath.Join(t.TempDir(), ".env")))
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Disabled", func(t *testing.T) {
		t.Chdir(t.TempDir())
		writeFile(t, ".", ".env", "JWT_SECRET=x\nHASH_ITERATIONS=9\n")
		s, err := load(t, with())
		if err != nil || s.HashIterations != 3 {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
	for _, tc := range []struct{ name, content, message string }{
		{"BadName", "JWT_SECRET=" + secret + "\nNOT-A-NAME=sup3rs3cr3tvalue\n", `line 2: unexpected character "-" in a variable name`},
		{"Unterminated", "JWT_SECRET=" + secret + "\n\nX=1\nPASS=\"sup3rs3cr3tvalue\n", "line 4: unterminated quoted value"},
	} {
		t.Run("Malformed"+tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), ".env", tc.content)
			err := config.Load(context.Background(), new(config.Settings), config.WithLookuper(envconfig.MapLookuper(nil)), config.WithDotEnv(p))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q does not name %s and %q", err, p, tc.message)
			}
			if strings.Contains(err.Error(), "sup3rs3cr3t") || strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q shows a value", err)
			}
		})
	}
	t.Run("Unreadable", func(t *testing.T) {
		dir := t.TempDir() // a directory is not a readable file
		err := config.Load(context.Background(), new(config.Settings), config.WithLookuper(envconfig.MapLookuper(with())), config.WithDotEnv(dir))
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("error %v does not name %s", err, dir)
		}
	})
}

type appSettings struct {
	config.Settings
	StripeKey string `env:"STRIPE_KEY"`
	Workers   int    `env:"WORKERS, default=2"`
}

type strictApp struct {
	config.Settings
	StripeKey string `env:"STRIPE_KEY"`
}

// Validate adds the application's own rule to Settings'.
func (a *strictApp) Validate() error {
	err := a.Settings.Validate()
	if a.StripeKey == "" {
		err = errors.Join(err, &config.ValidationError{Vars: []*config.VarError{{Name: "STRIPE_KEY", Err: config.ErrRequired}}})
	}
	return err
}

func TestLoad_App(t *testing.T) {
	lookup := func(env map[string]string) []config.Option {
		return []config.Option{config.WithLookuper(envconfig.MapLookuper(env)), config.WithDotEnv("")}
	}
	t.Run("Embedded", func(t *testing.T) {
		var s appSettings
		if err := config.Load(context.Background(), &s, lookup(with("STRIPE_KEY", "sk_test", "HASH_ITERATIONS", "4"))...); err != nil {
			t.Fatal(err)
		}
		if s.StripeKey != "sk_test" || s.Workers != 2 || s.HashIterations != 4 || s.VerificationSecret != secret {
			t.Fatalf("got %+v", s)
		}
	})
	t.Run("EmbeddedValidated", func(t *testing.T) {
		var s appSettings
		err := config.Load(context.Background(), &s, lookup(map[string]string{"STRIPE_KEY": "sk_test", "HASH_ITERATIONS": "x"})...)
		varErr(t, err, "JWT_SECRET")
		varErr(t, err, "HASH_ITERATIONS")
	})
	t.Run("EmbeddedPointer", func(t *testing.T) {
		var s struct {
			*config.Settings
			StripeKey string `env:"STRIPE_KEY"`
		}
		err := config.Load(context.Background(), &s, lookup(map[string]string{})...)
		varErr(t, err, "JWT_SECRET")
	})
	t.Run("Prefixed", func(t *testing.T) {
		var s struct {
			config.Settings `env:",prefix=KEYLIN_"`
		}
		err := config.Load(context.Background(), &s, lookup(map[string]string{"KEYLIN_JWT_SECRET": secret, "KEYLIN_HASH_ITERATIONS": "7", "HASH_ITERATIONS": "8"})...)
		if err != nil || s.HashIterations != 7 || s.ResetPasswordSecret != secret {
			t.Fatalf("got %+v, %v", s, err)
		}
		s.Settings = config.Settings{}
		err = config.Load(context.Background(), &s, lookup(map[string]string{"KEYLIN_JWT_SECRET": secret, "KEYLIN_HASH_ITERATIONS": "x"})...)
		varErr(t, err, "KEYLIN_HASH_ITERATIONS")
	})
	t.Run("AppFieldInvalid", func(t *testing.T) {
		var s appSettings
		err := config.Load(context.Background(), &s, lookup(with("WORKERS", "many", "HASH_ITERATIONS", "x"))...)
		if err == nil || !strings.Contains(err.Error(), "Workers") {
			t.Fatalf("error %v does not name Workers", err)
		}
		varErr(t, err, "HASH_ITERATIONS")
	})
	t.Run("OverriddenValidate", func(t *testing.T) {
		var s strictApp
		err := config.Load(context.Background(), &s, lookup(map[string]string{"HASH_ITERATIONS": "1"})...)
		for _, name := range []string{"JWT_SECRET", "HASH_ITERATIONS", "STRIPE_KEY"} {
			if !strings.Contains(err.Error(), name+": ") {
				t.Errorf("error %q does not name %s", err, name)
			}
		}
	})
	t.Run("WithoutSettings", func(t *testing.T) {
		// As `keylin migrate` does: only DATABASE_URL, no JWT_SECRET needed.
		var s struct {
			DatabaseURL string `env:"DATABASE_URL, default=sqlite://keylin.db"`
		}
		if err := config.Load(context.Background(), &s, lookup(map[string]string{"DATABASE_URL": ""})...); err != nil {
			t.Fatal(err)
		}
		if s.DatabaseURL != "sqlite://keylin.db" {
			t.Fatalf("DatabaseURL = %q", s.DatabaseURL)
		}
	})
	t.Run("NotAPointer", func(t *testing.T) {
		if err := config.Load(context.Background(), config.Settings{}, lookup(with())...); err == nil {
			t.Fatal("Load accepted a struct value")
		}
	})
}

func TestLoad_Options(t *testing.T) {
	t.Run("NilLookuper", func(t *testing.T) {
		err := config.Load(context.Background(), new(config.Settings), config.WithLookuper(nil))
		if err == nil || !strings.Contains(err.Error(), "WithLookuper") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("NilOption", func(t *testing.T) {
		if err := config.Load(context.Background(), new(config.Settings), nil); err == nil {
			t.Fatal("Load accepted a nil Option")
		}
	})
}

func TestValidate(t *testing.T) {
	t.Run("ZeroSettings", func(t *testing.T) {
		err := new(config.Settings).Validate()
		for _, name := range []string{"JWT_SECRET", "DATABASE_URL", "ACCESS_TOKEN_LIFETIME", "HASH_MEMORY_KIB", "HASH_ITERATIONS", "HASH_PARALLELISM", "MAIL_URL", "LOG_LEVEL"} {
			varErr(t, err, name)
		}
	})
	t.Run("Loaded", func(t *testing.T) {
		s := mustLoad(t, with())
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
