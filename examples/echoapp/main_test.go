package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/internal/dbtest"
)

func TestEchoApp(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		db := dbtest.Migrated(t, d)
		secret := "echoapp-test-secret-0123456789abcdef"
		ks := config.Defaults()
		ks.JWTSecret, ks.VerificationSecret, ks.ResetPasswordSecret = secret, secret, secret
		ks.HashMemoryKiB, ks.HashIterations, ks.HashParallelism = 19456, 2, 1
		s := Settings{Settings: ks, Greeting: "hi"}
		e, _, err := newApp(s, ent.NewClient(ent.Driver(db.Driver())), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(e)
		defer srv.Close()
		get := func(path, token string) (int, string) {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get("/dashboard", ""); code != 401 || !strings.Contains(body, "Unauthorized") {
			t.Fatalf("dashboard without token: %d %s", code, body)
		}
		if code, body := get("/nowhere", ""); code != 404 || !strings.Contains(body, `"app":"echoapp"`) {
			t.Fatalf("the app's own 404 lost its handler: %d %s", code, body)
		}
		resp, err := http.Post(srv.URL+"/api/auth/register", "application/json", strings.NewReader(`{"email":"e@example.com","password":"echo app passphrase"}`))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("register: %v %v", resp.StatusCode, err)
		}
		resp, err = http.PostForm(srv.URL+"/api/auth/jwt/login", url.Values{"username": {"e@example.com"}, "password": {"echo app passphrase"}})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("login: %v %v", resp.StatusCode, err)
		}
		var lr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&lr)
		resp.Body.Close()
		if code, body := get("/dashboard", lr.AccessToken); code != 200 || !strings.Contains(body, "hi, e@example.com") {
			t.Fatalf("dashboard: %d %s", code, body)
		}
		if code, _ := get("/api/users/me", lr.AccessToken); code != 200 {
			t.Fatalf("me under the app's prefix: %d", code)
		}
	})
}
