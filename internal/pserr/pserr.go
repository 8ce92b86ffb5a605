// Package pserr builds the module's error messages so that each reads
// "powersync: " once, however many layers add context.
//
// # Convention
//
// Every error the module returns has a text that starts with "powersync: "
// exactly once. An error is created with the prefix where it first arises
// (a sentinel such as pssync.ErrClosed, or fmt.Errorf("powersync: …") around
// an error of SQLite, net/http or encoding/json). A layer that adds context
// to an error that may already be one of the module's own uses Errorf, which
// keeps the chain for errors.Is and errors.As and drops the inner prefixes
// from the text:
//
//	pserr.Errorf("powersync: start sync: %w", err)
//	// "powersync: start sync: sync control: begin: database is locked"
//
// not "powersync: start sync: powersync: sync control: …".
package pserr

import (
	"fmt"
	"strings"
)

// Prefix starts the text of every error the module returns.
const Prefix = "powersync: "

// Errorf formats like fmt.Errorf and wraps the %w operands the same way,
// but the text of each error operand loses a leading Prefix, and the result
// starts with Prefix exactly once.
func Errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	var bare []any
	for i, a := range args {
		e, ok := a.(error)
		if !ok || e == nil || !strings.HasPrefix(e.Error(), Prefix) {
			continue
		}
		if bare == nil {
			bare = append([]any(nil), args...)
		}
		bare[i] = trimmed{e}
	}
	text := err.Error()
	if bare != nil {
		text = fmt.Errorf(format, bare...).Error()
	}
	text = Prefix + strings.TrimPrefix(text, Prefix)
	if text == err.Error() {
		return err
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		return &multi{text: text, errs: u.Unwrap()}
	case interface{ Unwrap() error }:
		return &single{text: text, err: u.Unwrap()}
	}
	return &single{text: text}
}

// trimmed is an error operand shown without its Prefix.
type trimmed struct{ err error }

func (t trimmed) Error() string { return strings.TrimPrefix(t.err.Error(), Prefix) }

// single is the result of Errorf with at most one %w operand.
type single struct {
	text string
	err  error
}

func (e *single) Error() string { return e.text }
func (e *single) Unwrap() error { return e.err }

// multi is the result of Errorf with several %w operands.
type multi struct {
	text string
	errs []error
}

func (e *multi) Error() string   { return e.text }
func (e *multi) Unwrap() []error { return e.errs }
