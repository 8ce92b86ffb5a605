// Package tododb holds the typed queries of the sqlc example, in the form
// `sqlc generate` produces from ../query.sql and ../schema.sql (see
// ../sqlc.yaml). It is written by hand, so that the example needs no sqlc
// binary; running sqlc in examples/sqlc replaces it with generated code of
// the same shape.
package tododb
