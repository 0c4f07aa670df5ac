// Package invalid is the one error type for a user's mistake: a field, the value given and what
// is allowed. cmd/sim turns any error that wraps an *Error into exit code 2.
package invalid

import (
	"errors"
	"fmt"
	"math"
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

// Error renders "SOURCE: FIELD: VALUE is not allowed (allowed: ALLOWED)", without "SOURCE: "
// when the source is unknown; a string VALUE is quoted.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s is not allowed (allowed: %s)", e.Field, render(e.Value), e.Allowed)
	if e.Source != "" {
		msg = e.Source + ": " + msg
	}
	return msg
}

// maxRender caps how much of a value a message shows: a value can be a whole list the user
// wrote, and a message of half a megabyte hides what it says. 200 characters show any single
// setting in full.
const maxRender = 200

func render(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		if len(x) > maxRender {
			return fmt.Sprintf("%q... (%d bytes in all)", x[:maxRender], len(x))
		}
		return fmt.Sprintf("%q", x)
	case nil:
		return "<empty>"
	default:
		s = fmt.Sprintf("%v", x)
	}
	if len(s) > maxRender {
		return fmt.Sprintf("%s... (%d characters in all)", s[:maxRender], len(s))
	}
	return s
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

// Finite returns an *Error for field when x is NaN or an infinity, and nil otherwise. Check it
// before any range: NaN compares false with every bound, so "x < 0 || x > 1" lets it through,
// and a NaN threshold can never be breached.
func Finite(field string, x float64) error {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Field(field, x, "a finite number, not NaN or an infinity")
	}
	return nil
}
