// Atlas CLI project file, for users who have the Atlas CLI installed.
// keylin itself never needs it: `keylin migrate apply` applies the same
// directories with the Atlas Go library and records them in the same
// atlas_schema_revisions table, so either tool can carry a database on.
//
//   atlas migrate apply --env postgres --var url="postgres://user:pass@host:5432/db?sslmode=disable"
//   atlas migrate apply --env sqlite
//   atlas migrate status --env postgres --var url=...
//
// Keep the PostgreSQL URL without search_path: the CLI then keeps its
// revisions in the schema "atlas_schema_revisions", as keylin does.
// `src` is the ent schema; the open-source CLI cannot read ent:// URLs, so
// write migrations with `make migrate-diff NAME=…` (which also adds the
// case-insensitive email index ent cannot express).

variable "url" {
  type    = string
  default = getenv("DATABASE_URL")
}

variable "dev_postgres" {
  type    = string
  default = "docker://postgres/15/dev"
}

env "postgres" {
  src = "ent://ent/schema"
  dev = var.dev_postgres
  url = var.url
  migration {
    dir = "file://ent/migrate/migrations/postgres"
  }
}

env "sqlite" {
  src = "ent://ent/schema"
  dev = "sqlite://dev?mode=memory&_fk=1"
  url = "sqlite://keylin.db?_fk=1"
  migration {
    dir = "file://ent/migrate/migrations/sqlite"
  }
}
