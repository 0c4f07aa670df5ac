package userfile

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte("stages: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, link} {
		data, err := Read("--profile", p, 11)
		if err != nil || string(data) != "stages: []\n" {
			t.Errorf("Read(%s) = %q, %v", p, data, err)
		}
	}
	f, err := Open("results.bin", link)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Each refusal is an *invalid.Error naming the field and the path and saying why, returned at
// once: a FIFO's open used to block until a writer came, and /dev/zero to be read until memory
// ran out.
func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		limit int64
		is    error // a cause errors.Is finds, or nil
		want  []string
	}{
		{"missing", filepath.Join(dir, "nope"), 1024, fs.ErrNotExist, []string{"an existing file"}},
		{"FIFO", fifo, 1024, nil, []string{"a named pipe (FIFO)"}},
		{"folder", dir, 1024, nil, []string{"a folder"}},
		{"character device", "/dev/zero", 1024, nil, []string{"a character device"}},
		{"unix socket", sock, 1024, nil, []string{"a unix socket"}},
		{"symlink loop", loop, 1024, syscall.ELOOP, []string{"too many levels of symbolic links"}},
		{"over the cap", big, 1024, nil, []string{"at most 1024 bytes (1 KiB)", "this one has 2048 bytes"}},
		// A regular file that reports size 0 and holds more: the cap holds while reading too.
		{"grows past the cap", "/proc/self/maps", 16, nil, []string{"at most 16 bytes", "more than 16 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Read("--config", tt.path, tt.limit); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("Read still blocked after 2s")
			}
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want an *invalid.Error", err, err)
			}
			if ie.Field != "--config" || ie.Value != tt.path {
				t.Errorf("Field %q, Value %v: want --config and the path", ie.Field, ie.Value)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestReadUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads a file whatever its mode")
	}
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	_, err := Read("summary.json", path, 10)
	if !invalid.Is(err) || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("error %v, want an *invalid.Error saying permission denied", err)
	}
}

// A read error after a successful open (here EIO: /proc/self/mem at an unmapped address) is the
// user's input that cannot be read too.
func TestReadErrorAfterOpen(t *testing.T) {
	_, err := Read("--profile", "/proc/self/mem", 1024)
	if !invalid.Is(err) || !strings.Contains(err.Error(), "/proc/self/mem") {
		t.Fatalf("error %v (%T), want an *invalid.Error naming the file", err, err)
	}
}
