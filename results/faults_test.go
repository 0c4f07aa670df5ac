package results

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// mountTmpfs mounts a tmpfs of size at a fresh folder, unmounted when the test ends; it skips
// the test where mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("mount a %s tmpfs: %v (needs root or CAP_SYS_ADMIN)", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill leaves about free bytes on the file system of dir.
func fill(t *testing.T, dir string, free int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if avail := int64(st.Bavail) * st.Bsize; avail > free {
		if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, avail-free), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A disk that fills up mid-run: the write error names the file, results.bin is cut back to
// whole results, and the summary written after Close still fits, thanks to the reserve.
func TestWriterDiskFull(t *testing.T) {
	fs := mountTmpfs(t, "512k")
	// Room for the reserve, one flush of results and a little more; not for two flushes.
	fill(t, fs, reserveSize+resultsFlushSize+40<<10)
	w, err := Create(filepath.Join(fs, "rec"))
	if err != nil {
		t.Fatal(err)
	}
	var resErr error
	for i := 0; i < 100000 && resErr == nil; i++ {
		resErr = w.AddResult(testResult(i))
	}
	if !errors.Is(resErr, syscall.ENOSPC) || !strings.Contains(resErr.Error(), filepath.Join(w.Dir(), ResultsFile)) {
		t.Fatalf("AddResult on a full disk: %v; want ENOSPC naming %s", resErr, filepath.Join(w.Dir(), ResultsFile))
	}
	var sampleErr error
	for i := 0; i < 100000 && sampleErr == nil; i++ {
		sampleErr = w.AddSample(testSample(i))
	}
	if !errors.Is(sampleErr, syscall.ENOSPC) || !strings.Contains(sampleErr.Error(), filepath.Join(w.Dir(), TimelineFile)) {
		t.Fatalf("AddSample on a full disk: %v; want ENOSPC naming the file", sampleErr)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed write returned nil")
	}
	if _, err := os.Stat(filepath.Join(w.Dir(), reserveFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reserve still there after Close: %v", err)
	}
	if err := w.WriteSummary(Summary{Topology: "self", InterruptedReason: resErr.Error()}); err != nil {
		t.Fatalf("the summary does not fit on the full disk although the reserve was freed: %v", err)
	}
	rec, err := Read(w.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Summary.Complete || !strings.Contains(rec.Summary.InterruptedReason, "no space left on device") {
		t.Errorf("summary complete=%v reason %q", rec.Summary.Complete, rec.Summary.InterruptedReason)
	}
	// vegeta's own decoder reads results.bin to a clean end: no result cut in half.
	f, err := os.Open(filepath.Join(w.Dir(), ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(bufio.NewReader(f))
	n := 0
	for {
		var r vegeta.Result
		err := dec.Decode(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("results.bin after a full disk: result %d: %v", n, err)
		}
		n++
	}
	if n == 0 {
		t.Error("results.bin lost the results written before the disk filled")
	}
	t.Logf("%d whole results kept; %s", n, resErr)
}

// A disk with no room for a record: Create fails and leaves no folder behind.
func TestCreateOnFullDisk(t *testing.T) {
	fs := mountTmpfs(t, "64k")
	fill(t, fs, 4<<10)
	dir := filepath.Join(fs, "runs", "rec")
	w, err := Create(dir)
	if err == nil {
		w.Close()
		t.Fatal("Create succeeded on a full disk")
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %v, want ENOSPC naming %s", err, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a half-made record folder is left: %v", err)
	}
}

// A folder that cannot be made (its parent is a file; root ignores permission bits).
func TestCreateUnderAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "runs", "rec")
	if w, err := Create(dir); err == nil {
		w.Close()
		t.Fatal("Create under a file succeeded")
	} else if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %v does not name %s", err, dir)
	}
}

func TestDiscard(t *testing.T) {
	w := newWriter(t)
	if err := w.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Discard left %s: %v", w.Dir(), err)
	}
}
