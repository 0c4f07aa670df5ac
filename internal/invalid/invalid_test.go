package invalid

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"
)

// The message a user reads: the field, the value as given (strings quoted, so that an empty or
// blank value shows), and what is allowed; the source first when known.
func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"string quoted", &Error{Field: "topology", Value: "loop", Allowed: "one of self, split"},
			`topology: "loop" is not allowed (allowed: one of self, split)`},
		{"empty string shows", &Error{Field: "--out", Value: "", Allowed: "a folder"},
			`--out: "" is not allowed (allowed: a folder)`},
		{"number", &Error{Field: "stages[2].target", Value: -5, Allowed: "> 0"},
			`stages[2].target: -5 is not allowed (allowed: > 0)`},
		{"duration", &Error{Field: "work_time", Value: -time.Second, Allowed: "a duration >= 0"},
			`work_time: -1s is not allowed (allowed: a duration >= 0)`},
		{"nil value", &Error{Field: "profile", Value: nil, Allowed: "a built-in name or a file"},
			`profile: <empty> is not allowed (allowed: a built-in name or a file)`},
		{"with its source", &Error{Field: "max_threads", Value: 0, Allowed: "1 to 10000", Source: "server.yaml"},
			`server.yaml: max_threads: 0 is not allowed (allowed: 1 to 10000)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestField(t *testing.T) {
	err := Field("accept_count", 0, "1 to 65535")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Field returned %T, want *Error", err)
	}
	if e.Field != "accept_count" || e.Value != 0 || e.Allowed != "1 to 65535" || e.Source != "" {
		t.Errorf("Field built %+v", e)
	}
}

// Is finds a user's mistake however deeply it is wrapped, which is what makes cmd/sim exit 2;
// any other error is not one.
func TestIs(t *testing.T) {
	base := Field("nofile", 10, "0 or 64 to 1048576")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"itself", base, true},
		{"wrapped with %w", fmt.Errorf("load profile %q: %w", "x.yaml", base), true},
		{"wrapped twice", fmt.Errorf("run: %w", fmt.Errorf("server config: %w", base)), true},
		{"joined with another error", errors.Join(errors.New("disk full"), base), true},
		{"wrapped with %v: the chain is cut", fmt.Errorf("load: %v", base), false},
		{"another error", fs.ErrNotExist, false},
		{"another error wrapped", fmt.Errorf("read: %w", fs.ErrNotExist), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Is(tt.err); got != tt.want {
				t.Errorf("Is(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
