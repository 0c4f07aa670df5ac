// Package userfile reads the files a user hands to sim: a profile, a `serve --config` file, the
// files of a run record or of a plan. A path on a command line can name anything: a FIFO, whose
// open waits for a writer that may never come; a device such as /dev/zero, which never ends; a
// folder; a multi-gigabyte log. Read and Open take only a regular file (symlinks followed),
// checked without blocking, and Read only up to a size cap the caller states. Every failure is
// the user's input that cannot be used, an *invalid.Error naming the path (exit 2 in cmd/sim),
// whatever the cause: missing, unreadable, a symlink loop, the wrong kind of file, too big.
package userfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/simdev/sim/internal/invalid"
)

// Error is the error of Read and Open: the *invalid.Error the user reads, and the cause
// underneath for errors.Is (fs.ErrNotExist, syscall.ELOOP...), nil when the file opened but was
// refused (not a regular file, too big).
type Error struct {
	Invalid *invalid.Error
	Err     error
}

func (e *Error) Error() string { return e.Invalid.Error() }

// Unwrap gives both the *invalid.Error and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Invalid}
	}
	return []error{e.Invalid, e.Err}
}

func refuse(field, path, allowed string, cause error) error {
	return &Error{Invalid: &invalid.Error{Field: field, Value: path, Allowed: allowed}, Err: cause}
}

// Read returns the contents of the regular file at path, refusing one larger than limit bytes.
// field names the input in errors: the flag or key the path came from ("--config"), or the
// file's part in a folder ("summary.json").
func Read(field, path string, limit int64) ([]byte, error) {
	f, st, err := open(field, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, tooBig(field, path, fmt.Sprintf("%d bytes", st.Size()), limit)
	}
	// Through a limit all the same: a file can grow while it is read, and some regular files
	// (in /proc) report a size of 0 whatever they hold.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, refuse(field, path, "a readable regular file ("+reason(err)+")", err)
	}
	if int64(len(data)) > limit {
		return nil, tooBig(field, path, fmt.Sprintf("more than %d bytes", limit), limit)
	}
	return data, nil
}

func tooBig(field, path, size string, limit int64) error {
	return refuse(field, path, fmt.Sprintf("a file of at most %d bytes (%s); this one has %s", limit, human(limit), size), nil)
}

// Open opens the regular file at path for reading, for a caller that streams it; the caller
// closes it. Errors are as Read's.
func Open(field, path string) (*os.File, error) {
	f, _, err := open(field, path)
	return f, err
}

func open(field, path string) (*os.File, fs.FileInfo, error) {
	// O_NONBLOCK, because opening a FIFO for reading waits for a writer before any check could
	// run; it changes nothing for a regular file, which is all that gets past the fstat below.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, openError(field, path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, refuse(field, path, "a readable regular file ("+reason(err)+")", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, refuse(field, path, "a regular file; this is "+kind(st.Mode()), nil)
	}
	return f, st, nil
}

func openError(field, path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return refuse(field, path, "an existing file", err)
	case errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.EOPNOTSUPP):
		// A unix socket cannot be opened at all; say what it is rather than ENXIO's "no such
		// device or address".
		if st, serr := os.Stat(path); serr == nil && !st.Mode().IsRegular() {
			return refuse(field, path, "a regular file; this is "+kind(st.Mode()), err)
		}
	}
	return refuse(field, path, "a readable regular file ("+reason(err)+")", err)
}

// reason is the OS's words for err without the operation and path, which the message already
// has: "permission denied", "too many levels of symbolic links".
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// kind says in words what a file that is not a regular file is.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a unix socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

func human(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
