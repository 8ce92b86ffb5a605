package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// The whole example program: typed queries in the form sqlc generates,
// running on the PowerSync views.
func Example() {
	dir, _ := os.MkdirTemp("", "sqlc-example")
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, filepath.Join(dir, "todo.db")); err != nil {
		fmt.Println(err)
	}
	// Output:
	// completed 1
	// deleted 1
	// Chores (1 open):
	//   [x] dishes
	//   [ ] laundry
	// queued for upload: 6 changes
}
