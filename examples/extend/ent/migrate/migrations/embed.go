// Package migrations embeds the application's versioned migrations, one
// directory per dialect in Atlas format (each with its atlas.sum), written by
// `go run ./cmd/migrate-diff NAME`.
package migrations

import "embed"

// FS holds the directories "postgres" and "sqlite".
//
//go:embed postgres/*.sql postgres/atlas.sum sqlite/*.sql sqlite/atlas.sum
var FS embed.FS
