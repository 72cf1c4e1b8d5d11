-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_users" table
CREATE TABLE `new_users` (`id` uuid NOT NULL, `email` text NOT NULL, `hashed_password` text NOT NULL, `full_name` text NULL, `is_active` bool NOT NULL DEFAULT (true), `is_superuser` bool NOT NULL DEFAULT (false), `is_verified` bool NOT NULL DEFAULT (false), `created_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `updated_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `tokens_valid_after` datetime NULL, `credential_version` integer NOT NULL DEFAULT (0), `role` text NOT NULL DEFAULT ('member'), `nickname` text NULL, `internal_note` text NULL, PRIMARY KEY (`id`));
-- Copy rows from old table "users" to new temporary table "new_users"
INSERT INTO `new_users` (`id`, `email`, `hashed_password`, `full_name`, `is_active`, `is_superuser`, `is_verified`, `created_at`, `updated_at`, `tokens_valid_after`, `role`, `nickname`, `internal_note`) SELECT `id`, `email`, `hashed_password`, `full_name`, `is_active`, `is_superuser`, `is_verified`, `created_at`, `updated_at`, `tokens_valid_after`, `role`, `nickname`, `internal_note` FROM `users`;
-- Drop "users" table after copying rows
DROP TABLE `users`;
-- Rename temporary table "new_users" to "users"
ALTER TABLE `new_users` RENAME TO `users`;
-- Create index "user_created_at" to table: "users"
CREATE INDEX `user_created_at` ON `users` (`created_at`);
-- Create index "users_email_lower_key" to table: "users"
CREATE UNIQUE INDEX `users_email_lower_key` ON `users` ((lower(email)));
-- Create "keylin_rate_limits" table
CREATE TABLE `keylin_rate_limits` (`id` text NOT NULL, `tat` integer NOT NULL, `allowed` bool NOT NULL DEFAULT (true), PRIMARY KEY (`id`));
-- Create index "ratelimit_tat" to table: "keylin_rate_limits"
CREATE INDEX `ratelimit_tat` ON `keylin_rate_limits` (`tat`);
-- Create "keylin_refresh_tokens" table
CREATE TABLE `keylin_refresh_tokens` (`id` text NOT NULL, `session_id` uuid NOT NULL, `created_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `expires_at` datetime NOT NULL, `used_at` datetime NULL, PRIMARY KEY (`id`));
-- Create index "refreshtoken_session_id" to table: "keylin_refresh_tokens"
CREATE INDEX `refreshtoken_session_id` ON `keylin_refresh_tokens` (`session_id`);
-- Create index "refreshtoken_expires_at" to table: "keylin_refresh_tokens"
CREATE INDEX `refreshtoken_expires_at` ON `keylin_refresh_tokens` (`expires_at`);
-- Create "keylin_sessions" table
CREATE TABLE `keylin_sessions` (`id` uuid NOT NULL, `user_id` uuid NOT NULL, `created_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `last_used_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `expires_at` datetime NOT NULL, `ended_at` datetime NULL, `user_agent` text NOT NULL DEFAULT (''), `ip` text NOT NULL DEFAULT (''), `credential_version` integer NOT NULL, PRIMARY KEY (`id`));
-- Create index "session_user_id_ip" to table: "keylin_sessions"
CREATE INDEX `session_user_id_ip` ON `keylin_sessions` (`user_id`, `ip`);
-- Create index "session_expires_at" to table: "keylin_sessions"
CREATE INDEX `session_expires_at` ON `keylin_sessions` (`expires_at`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
-- Drop "revoked_tokens" table: keylin's sessions replace the jti deny-list
DROP TABLE `revoked_tokens`;
