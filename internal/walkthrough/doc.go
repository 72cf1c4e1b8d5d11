// Package walkthrough holds the fork walkthrough of the README's
// "Extending the user model": a test that copies the repository, adds two
// fields to ent/schema/user.go, regenerates, writes the migration and checks
// the new fields flow through migrations, the command line and the HTTP API,
// on SQLite and PostgreSQL. It has no non-test code.
package walkthrough
