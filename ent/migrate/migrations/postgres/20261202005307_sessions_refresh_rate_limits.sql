-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "credential_version" bigint NOT NULL DEFAULT 0;
-- Create "keylin_rate_limits" table
CREATE TABLE "keylin_rate_limits" ("id" character varying(64) NOT NULL, "tat" bigint NOT NULL, "allowed" boolean NOT NULL DEFAULT true, PRIMARY KEY ("id"));
-- Create index "ratelimit_tat" to table: "keylin_rate_limits"
CREATE INDEX "ratelimit_tat" ON "keylin_rate_limits" ("tat");
-- Create "keylin_refresh_tokens" table
CREATE TABLE "keylin_refresh_tokens" ("id" character varying(64) NOT NULL, "session_id" uuid NOT NULL, "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "expires_at" timestamptz NOT NULL, "used_at" timestamptz NULL, PRIMARY KEY ("id"));
-- Create index "refreshtoken_expires_at" to table: "keylin_refresh_tokens"
CREATE INDEX "refreshtoken_expires_at" ON "keylin_refresh_tokens" ("expires_at");
-- Create index "refreshtoken_session_id" to table: "keylin_refresh_tokens"
CREATE INDEX "refreshtoken_session_id" ON "keylin_refresh_tokens" ("session_id");
-- Create "keylin_sessions" table
CREATE TABLE "keylin_sessions" ("id" uuid NOT NULL, "user_id" uuid NOT NULL, "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "last_used_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "expires_at" timestamptz NOT NULL, "ended_at" timestamptz NULL, "user_agent" character varying(512) NOT NULL DEFAULT '', "ip" character varying(64) NOT NULL DEFAULT '', "credential_version" bigint NOT NULL, PRIMARY KEY ("id"));
-- Create index "session_expires_at" to table: "keylin_sessions"
CREATE INDEX "session_expires_at" ON "keylin_sessions" ("expires_at");
-- Create index "session_user_id_ip" to table: "keylin_sessions"
CREATE INDEX "session_user_id_ip" ON "keylin_sessions" ("user_id", "ip");
-- Drop "revoked_tokens" table: sessions replace the jti deny-list
DROP TABLE "revoked_tokens";
