// Package migrations embeds tock's numbered goose SQL migrations, one folder
// per SQL dialect (sqlite/, mysql/), so that the binary carries its schema.
//
// It holds the files only: it does not open databases or run the migrations
// (the SQL stores do that in Migrate, which `tock migrate` also calls). A
// released migration is never edited; a schema change is a new numbered file
// in both folders.
package migrations
