// Package invalid is the one error type for a user's mistake: a field, the value given and what
// is allowed. cmd/sim turns any error that wraps an *Error into exit code 2.
package invalid

import (
	"errors"
	"fmt"
)

// Error says which input was wrong, what was given and what would have been accepted.
type Error struct {
	// Field is the key as the user wrote it: a config key, a profile path such as
	// "stages[2].target", or a flag such as "--topology".
	Field string
	// Value is what the user gave, as they gave it where possible.
	Value any
	// Allowed says what would be accepted, in words: "one of self, split", "> 0".
	Allowed string
	// Source names where the value came from (a file, "flag", "env"); optional.
	Source string
}

// Error renders "SOURCE: FIELD: VALUE is not allowed: ALLOWED".
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s is not allowed (allowed: %s)", e.Field, render(e.Value), e.Allowed)
	if e.Source != "" {
		msg = e.Source + ": " + msg
	}
	return msg
}

func render(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "<empty>"
	default:
		return fmt.Sprintf("%v", x)
	}
}

// Field builds an *Error.
func Field(field string, value any, allowed string) error {
	return &Error{Field: field, Value: value, Allowed: allowed}
}

// Is reports whether err is, or wraps, a user's mistake.
func Is(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
