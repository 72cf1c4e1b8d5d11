-- Create "revoked_tokens" table
CREATE TABLE "revoked_tokens" ("id" character varying NOT NULL, "user_id" uuid NOT NULL, "expires_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- Create index "revokedtoken_expires_at" to table: "revoked_tokens"
CREATE INDEX "revokedtoken_expires_at" ON "revoked_tokens" ("expires_at");
-- Create index "revokedtoken_user_id" to table: "revoked_tokens"
CREATE INDEX "revokedtoken_user_id" ON "revoked_tokens" ("user_id");
-- Create "users" table
CREATE TABLE "users" ("id" uuid NOT NULL, "email" character varying(320) NOT NULL, "hashed_password" character varying(1024) NOT NULL, "full_name" character varying(255) NULL, "is_active" boolean NOT NULL DEFAULT true, "is_superuser" boolean NOT NULL DEFAULT false, "is_verified" boolean NOT NULL DEFAULT false, "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "updated_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "tokens_valid_after" timestamptz NULL, "role" character varying NOT NULL DEFAULT 'member', "nickname" character varying NULL, "internal_note" character varying NULL, PRIMARY KEY ("id"));
-- Create index "user_created_at" to table: "users"
CREATE INDEX "user_created_at" ON "users" ("created_at");
-- Create index "users_email_lower_key" to table: "users"
CREATE UNIQUE INDEX "users_email_lower_key" ON "users" ((lower((email)::text)));
