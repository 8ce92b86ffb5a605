package pserr

import (
	"errors"
	"io"
	"testing"
)

func TestErrorf(t *testing.T) {
	inner := errors.New("powersync: sync control: begin: database is locked")
	sentinel := errors.New("powersync: sync protocol error")
	tests := []struct {
		name string
		err  error
		want string
		is   []error
	}{
		{"foreign operand", Errorf("powersync: read: %w", io.EOF), "powersync: read: EOF", []error{io.EOF}},
		{"own operand", Errorf("powersync: start sync: %w", inner), "powersync: start sync: sync control: begin: database is locked", []error{inner}},
		{"nested", Errorf("powersync: run: %w", Errorf("powersync: start sync: %w", inner)), "powersync: run: start sync: sync control: begin: database is locked", []error{inner}},
		{"sentinel first", Errorf("%w: invalid text line: %w", sentinel, io.ErrUnexpectedEOF), "powersync: sync protocol error: invalid text line: unexpected EOF", []error{sentinel, io.ErrUnexpectedEOF}},
		{"%v operand", Errorf("powersync: upload: %v", inner), "powersync: upload: sync control: begin: database is locked", nil},
		{"no prefix in format", Errorf("start sync: %w", inner), "powersync: start sync: sync control: begin: database is locked", []error{inner}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
			for _, target := range tt.is {
				if !errors.Is(tt.err, target) {
					t.Errorf("errors.Is(err, %q) = false", target)
				}
			}
		})
	}
	// An error that already reads well is returned as fmt.Errorf makes it.
	if err := Errorf("powersync: read: %w", io.EOF); errors.Unwrap(err) != io.EOF {
		t.Errorf("Unwrap = %v, want io.EOF", errors.Unwrap(err))
	}
}
