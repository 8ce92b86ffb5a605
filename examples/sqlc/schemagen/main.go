// Command schemagen writes the todo schema as CREATE TABLE statements for
// sqlc (schema.Schema.CreateTableSQL). It is run by go generate in
// examples/sqlc:
//
//	go generate ./sqlc   # in examples/
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gopowersync/powersync/examples/internal/todoschema"
)

func main() {
	out := flag.String("o", "schema.sql", "output `file`")
	flag.Parse()
	if err := os.WriteFile(*out, []byte(todoschema.Schema().CreateTableSQL()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}
