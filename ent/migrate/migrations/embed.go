// Package migrations embeds keylin's versioned migration directories, one
// per dialect, in Atlas format (each with its atlas.sum). They are written
// by `make migrate-diff NAME=…` and applied by `keylin migrate apply` or by
// `atlas migrate apply --env <dialect>`.
package migrations

import "embed"

// FS holds the directories "postgres" and "sqlite".
//
//go:embed postgres/*.sql postgres/atlas.sum sqlite/*.sql sqlite/atlas.sum
var FS embed.FS
