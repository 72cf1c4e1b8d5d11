package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/keylin/keylin/examples/extend/ent"
	"github.com/keylin/keylin/examples/extend/ent/privacy"
)

// TestMailTemplatesSeeTheUserFields: keylin.New gives the mail templates
// of MAIL_TEMPLATES the application's readable fields, with their values,
// and refuses at start-up a template naming a field the API does not show.
func TestMailTemplatesSeeTheUserFields(t *testing.T) {
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	db := testDB(t, dialect.SQLite)
	if err := migrateUp(ctx, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	client := ent.NewClient(ent.Driver(db.Driver()))
	tmpl := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(tmpl, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("reset.subject.txt", "{{with .User.Fields.nickname}}{{.}}{{else}}Member{{end}}, your {{.User.Fields.role}} password\n")
	write("reset.txt", "{{.Link}}\n")
	s := testSettings()
	mailFile := filepath.Join(t.TempDir(), "mail.jsonl")
	s.MailURL, s.MailTemplates = "file:"+mailFile, tmpl
	e, svc, err := newApp(s, client)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	defer srv.Close()
	c := &apiClient{t: t, base: srv.URL}
	c.do("POST", "/auth/register", "", map[string]any{"email": "neo@example.com", "password": password, "nickname": "neo"})
	c.do("POST", "/auth/register", "", map[string]any{"email": "ann@example.com", "password": password})
	c.do("POST", "/auth/forgot-password", "", map[string]any{"email": "neo@example.com"})
	c.do("POST", "/auth/forgot-password", "", map[string]any{"email": "ann@example.com"})
	if err := svc.Close(context.Background()); err != nil { // drains the mail queue
		t.Fatal(err)
	}
	b, err := os.ReadFile(mailFile)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var m map[string]string
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("mail %q: %v", line, err)
		}
		subjects = append(subjects, m["subject"])
	}
	if want := []string{"neo, your member password", "Member, your member password"}; !reflect.DeepEqual(subjects, want) {
		t.Fatalf("subjects %q, want %q", subjects, want)
	}

	write("reset.txt", "{{.User.Fields.internal_note}}\n{{.Link}}\n")
	if _, _, err := newApp(s, client); err == nil || !strings.Contains(err.Error(), "reset.txt:1:") || !strings.Contains(err.Error(), "internal_note") {
		t.Fatalf("a template reading the hidden field: %v, want a start-up error naming reset.txt:1", err)
	}
}
