package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/internal/dbtest"
)

func TestGetUser(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		db := dbtest.Migrated(t, d)
		client := ent.NewClient(ent.Driver(db.Driver()))
		u, err := client.User.Create().SetEmail("Reader@example.com").SetHashedPassword("$argon2id$not-a-real-hash").Save(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(newApp(client))
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/users/" + u.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		want := map[string]any{"id": u.ID.String(), "email": "Reader@example.com", "is_active": true, "is_superuser": false, "is_verified": false, "full_name": nil}
		if len(got) != len(want) {
			t.Fatalf("keys = %v", got)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s = %v, want %v", k, got[k], v)
			}
		}
		for _, path := range []string{"/users/" + uuid.NewString(), "/users/not-a-uuid"} {
			resp, err := http.Get(srv.URL + path)
			if err != nil || resp.StatusCode != 404 {
				t.Fatalf("%s: %v %v", path, resp.StatusCode, err)
			}
			resp.Body.Close()
		}
	})
}
