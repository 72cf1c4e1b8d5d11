-- Create "revoked_tokens" table
CREATE TABLE `revoked_tokens` (`id` text NOT NULL, `user_id` uuid NOT NULL, `expires_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- Create index "revokedtoken_expires_at" to table: "revoked_tokens"
CREATE INDEX `revokedtoken_expires_at` ON `revoked_tokens` (`expires_at`);
-- Create index "revokedtoken_user_id" to table: "revoked_tokens"
CREATE INDEX `revokedtoken_user_id` ON `revoked_tokens` (`user_id`);
-- Create "users" table
CREATE TABLE `users` (`id` uuid NOT NULL, `email` text NOT NULL, `hashed_password` text NOT NULL, `full_name` text NULL, `is_active` bool NOT NULL DEFAULT (true), `is_superuser` bool NOT NULL DEFAULT (false), `is_verified` bool NOT NULL DEFAULT (false), `created_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `updated_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `tokens_valid_after` datetime NULL, `role` text NOT NULL DEFAULT ('member'), `nickname` text NULL, `internal_note` text NULL, PRIMARY KEY (`id`));
-- Create index "user_created_at" to table: "users"
CREATE INDEX `user_created_at` ON `users` (`created_at`);
-- Create index "users_email_lower_key" to table: "users"
CREATE UNIQUE INDEX `users_email_lower_key` ON `users` ((lower(email)));
