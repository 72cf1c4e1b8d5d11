package keylin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/keylin/keylin"
	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/ent/migrate/migrations"
	"github.com/keylin/keylin/mail"
)

// recorder is a mail.Sender that keeps the messages.
type recorder struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (r *recorder) Send(_ context.Context, m mail.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

// TestNewMailOptions: WithMailOptions reaches the mail hooks (templates
// from an fs.FS, a locale per user), and a broken template makes New fail
// naming the file.
func TestNewMailOptions(t *testing.T) {
	ctx := context.Background()
	s := config.Defaults()
	s.JWTSecret = "mail-options-secret-0123456789abcdef0123456789"
	s.DatabaseURL = "sqlite:///" + filepath.Join(t.TempDir(), "app.db")
	s.HashMemoryKiB, s.HashIterations, s.HashParallelism = 19456, 2, 1
	db, err := database.Open(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := database.Migrate(ctx, db, migrations.FS); err != nil {
		t.Fatal(err)
	}
	store := ent.NewAuthnStore(ent.NewClient(ent.Driver(db.Driver())))
	templates := fstest.MapFS{
		"reset.subject.txt":    {Data: []byte("Brand: reset your password\n")},
		"fr/reset.subject.txt": {Data: []byte("Brand : réinitialisez votre mot de passe\n")},
	}
	french := mail.WithLocale(func(_ context.Context, u *authn.User) string {
		if strings.HasSuffix(u.Email, ".fr") {
			return "fr"
		}
		return ""
	})
	r := &recorder{}
	svc, err := keylin.New(s, store, keylin.WithLogger(slog.New(slog.DiscardHandler)), keylin.WithConsole(io.Discard),
		keylin.WithMailSender(r), keylin.WithMailOptions(mail.WithTemplates(templates), french))
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"ann@example.com", "zoe@example.fr"} {
		if _, err := svc.Manager.Register(ctx, authn.UserCreate{Email: email, Password: "a long passphrase"}); err != nil {
			t.Fatal(err)
		}
		if err := svc.Manager.ForgotPassword(ctx, email); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Close(ctx); err != nil { // drains the queue
		t.Fatal(err)
	}
	if len(r.sent) != 2 || r.sent[0].Subject != "Brand: reset your password" || r.sent[1].Subject != "Brand : réinitialisez votre mot de passe" ||
		r.sent[0].HTML == "" {
		t.Fatalf("sent %+v", r.sent)
	}

	_, err = keylin.New(s, store, keylin.WithLogger(slog.New(slog.DiscardHandler)), keylin.WithMailSender(r),
		keylin.WithMailOptions(mail.WithTemplates(fstest.MapFS{"verify.txt": {Data: []byte("{{.Lnk}}")}})))
	if !errors.Is(err, mail.ErrConfig) || !strings.Contains(err.Error(), "verify.txt:1:") {
		t.Fatalf("New with a broken template: %v", err)
	}
}

// TestStartCalibratesHasher: after Start the hasher knows how long a hash
// takes before any login, so a first burst is shed at once.
func TestStartCalibratesHasher(t *testing.T) {
	ctx := context.Background()
	s := config.Defaults()
	s.JWTSecret = "calibrate-secret-0123456789abcdef0123456789"
	s.HashMemoryKiB, s.HashIterations, s.HashParallelism = 19456, 2, 1
	svc, err := keylin.New(s, authn.NewMemoryStore(), keylin.WithLogger(slog.New(slog.DiscardHandler)), keylin.WithConsole(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Manager.Hasher().Stats().AvgHash; got != 0 {
		t.Fatalf("before Start: average hash %v, want unknown", got)
	}
	app, err := svc.Echo()
	if err != nil {
		t.Fatal(err)
	}
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	svc.Start(ctx)
	// Not ready before the hash is timed: a 200 means it is.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		code, body := readyz()
		if code == http.StatusOK {
			if svc.Manager.Hasher().Stats().AvgHash == 0 {
				t.Fatal("/readyz answered 200 before the hasher was timed")
			}
			break
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
			t.Fatalf("/readyz while starting: %d %s", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("Start did not time a hash within 30 s")
		}
	}
	if err := svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
