package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdev/sim/loadprofiles"
)

// failingWriter fails every write, as a file on a full disk does.
type failingWriter struct{ calls int }

func (f *failingWriter) Write([]byte) (int, error) {
	f.calls++
	return 0, errors.New("no space left on device")
}

// The serve.log writer never reports an error: the child's stderr pipe would be closed and sim
// serve killed by SIGPIPE at its next log line.
func TestLossyWriter(t *testing.T) {
	fw := &failingWriter{}
	w := &lossyWriter{w: fw}
	for range 3 {
		if n, err := w.Write([]byte("accept: too many open files\n")); n != 28 || err != nil {
			t.Fatalf("Write = %d, %v; want 28, nil", n, err)
		}
	}
	if fw.calls != 1 {
		t.Errorf("the failing file was written %d times, want once (then dropped)", fw.calls)
	}
}

// A record folder that cannot be made ends the run before any child starts, with the path in
// the error and no outcome.
func TestRunRecordDirUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := loadprofiles.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "runs", "20261125-130000-self")
	out, err := Run(context.Background(), Options{
		Topology: "self", Profile: p, ProfileName: "quick",
		Exe:       "/nonexistent/sim", // never started
		RecordDir: dir,
	})
	if err == nil || out != nil {
		t.Fatalf("Run = %+v, %v; want no outcome and an error", out, err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name %s", err, dir)
	}
}
