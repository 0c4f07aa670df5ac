// Package results is the run record: a folder holding every vegeta result (results.bin), the
// timeline of observation windows (timeline.csv), the recovery probes (probes.csv), the
// verdicts (summary.json) and the effective config (config.json), with the writer that streams
// them during a run and the reader that loads them back.
//
// A record is written so that a run killed at any moment leaves a readable folder: the CSV
// files are flushed after every row, results.bin is written in whole results, and summary.json
// is replaced atomically, first with complete=false and at the end with the verdict. A disk that
// fills up mid-run must not cost the verdict either: the writer holds a small reserve file
// (.summary-reserve) from Create to Close, so that the summary written after Close still fits.
package results

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/invalid"
)

// Files of a record.
const (
	ResultsFile  = "results.bin"
	TimelineFile = "timeline.csv"
	ProbesFile   = "probes.csv"
	SummaryFile  = "summary.json"
	ConfigFile   = "config.json"
)

const (
	// resultsFlushInterval bounds how stale results.bin is while a run goes on: a hung server
	// produces few results, so flushing only when the buffer fills could leave minutes unwritten.
	resultsFlushInterval = time.Second
	// resultsFlushSize is how much encoded output is held before writing it out: one write per
	// few hundred results keeps the cost of recording well under the cost of the requests.
	resultsFlushSize = 64 << 10
	dirPerm          = 0o755
	filePerm         = 0o644
	runDirTimeLayout = "20060102-150405"
	// reserveFile holds reserveSize bytes of the disk from Create to Close. A summary is about
	// 1 KiB: one 4 KiB block for its temp file, one for the old summary until the rename, and
	// room for the folder to grow.
	reserveFile = ".summary-reserve"
	reserveSize = 16 << 10
)

// Writer streams a run record to its folder. AddResult may be called from any goroutine; the
// other methods are safe for concurrent use too, but a run normally calls them from one.
type Writer struct {
	dir string

	// resMu guards the results stream. Encoded results go to resBuf and reach the file only in
	// whole results, so a run killed between writes leaves a results.bin that vegeta decodes to
	// the end.
	resMu   sync.Mutex
	resFile *os.File
	resBuf  bytes.Buffer
	resSize int64 // bytes of whole results in resFile
	enc     vegeta.Encoder
	resErr  error // first write error, returned by every later call

	csvMu     sync.Mutex
	timeline  *csvFile
	probes    *csvFile
	closed    bool
	closeErr  error
	stopFlush chan struct{}
	flushDone chan struct{}
}

type csvFile struct {
	f *os.File
	w *csv.Writer
}

// Create makes the record folder dir, which must not exist yet (its parents are created), and
// starts results.bin, timeline.csv and probes.csv. Close stops it. If any of that fails (a full
// disk, a read-only folder), the folder it made is removed: no half-made record is left.
func Create(dir string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(dir), dirPerm); err != nil {
		return nil, fmt.Errorf("create record %s: %w", dir, err)
	}
	// Mkdir, not MkdirAll: two runs started in the same second must not share a folder.
	if err := os.Mkdir(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("create record %s: %w", dir, err)
	}
	w := &Writer{dir: dir, stopFlush: make(chan struct{}), flushDone: make(chan struct{})}
	if err := w.open(); err != nil {
		for _, f := range []*os.File{w.resFile, w.timeline.file(), w.probes.file()} {
			if f != nil {
				f.Close()
			}
		}
		// Only files this call made are in dir: Mkdir above refused an existing folder.
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create record %s: %w", dir, err)
	}
	go w.flushLoop()
	return w, nil
}

// open creates the reserve and the streamed files in w.dir.
func (w *Writer) open() error {
	if err := WriteFileAtomic(w.dir, reserveFile, make([]byte, reserveSize)); err != nil {
		return err
	}
	var err error
	if w.resFile, err = createExcl(w.dir, ResultsFile); err != nil {
		return err
	}
	w.enc = vegeta.NewEncoder(&w.resBuf)
	if w.timeline, err = newCSVFile(w.dir, TimelineFile, TimelineHeader()); err != nil {
		return err
	}
	w.probes, err = newCSVFile(w.dir, ProbesFile, ProbesHeader())
	return err
}

// Discard closes w and removes its folder: for a run that could not even write its first
// summary, whose folder would otherwise be a record of nothing that `sim report` refuses.
func (w *Writer) Discard() error {
	_ = w.Close()
	if err := os.RemoveAll(w.dir); err != nil {
		return fmt.Errorf("remove record %s: %w", w.dir, err)
	}
	return nil
}

func createExcl(dir, name string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
}

func (c *csvFile) file() *os.File {
	if c == nil {
		return nil
	}
	return c.f
}

func newCSVFile(dir, name string, header []string) (*csvFile, error) {
	f, err := createExcl(dir, name)
	if err != nil {
		return nil, err
	}
	c := &csvFile{f: f, w: csv.NewWriter(f)}
	if err := c.write(header); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	return c, nil
}

// write writes one row and flushes it, so the file is readable up to the last row at any time.
func (c *csvFile) write(rec []string) error {
	if err := c.w.Write(rec); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

// Dir is the record's folder.
func (w *Writer) Dir() string { return w.dir }

// ErrClosed is returned when adding to a Writer after Close.
var ErrClosed = errors.New("record writer closed")

// AddResult appends r to results.bin, without its response body: BytesIn says how long it was,
// and pages are all alike, so a long run would only write the same page again and again. It is
// buffered; the file is brought up to date at least once per resultsFlushInterval and at Close.
func (w *Writer) AddResult(r *vegeta.Result) error {
	w.resMu.Lock()
	defer w.resMu.Unlock()
	if w.resFile == nil {
		return ErrClosed
	}
	if w.resErr != nil {
		return w.resErr
	}
	noBody := *r
	noBody.Body = nil
	if err := w.enc.Encode(&noBody); err != nil {
		w.resErr = fmt.Errorf("write %s: %w", ResultsFile, err)
		return w.resErr
	}
	if w.resBuf.Len() >= resultsFlushSize {
		return w.flushResultsLocked()
	}
	return nil
}

// flushResultsLocked writes the buffered results in one write call; w.resMu must be held. A
// write that fails part way (a full disk) is cut back to the last whole result, so that
// results.bin stays readable by vegeta to its end.
func (w *Writer) flushResultsLocked() error {
	if w.resErr != nil || w.resBuf.Len() == 0 {
		return w.resErr
	}
	n, err := w.resFile.Write(w.resBuf.Bytes())
	if err != nil {
		w.resErr = fmt.Errorf("write %s: %w", ResultsFile, err)
		if n > 0 {
			if terr := w.resFile.Truncate(w.resSize); terr != nil {
				w.resErr = errors.Join(w.resErr, fmt.Errorf("cut %s back to its last whole result: %w", ResultsFile, terr))
			}
		}
		return w.resErr
	}
	w.resSize += int64(n)
	w.resBuf.Reset()
	return nil
}

func (w *Writer) flushLoop() {
	defer close(w.flushDone)
	t := time.NewTicker(resultsFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stopFlush:
			return
		case <-t.C:
			w.resMu.Lock()
			if w.resFile != nil {
				// The error is kept in w.resErr and returned by the next AddResult or Close.
				_ = w.flushResultsLocked()
			}
			w.resMu.Unlock()
		}
	}
}

// AddSample appends s to timeline.csv and flushes it.
func (w *Writer) AddSample(s Sample) error {
	w.csvMu.Lock()
	defer w.csvMu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := w.timeline.write(row(sampleColumns, &s)); err != nil {
		return fmt.Errorf("write %s: %w", TimelineFile, err)
	}
	return nil
}

// AddProbe appends p to probes.csv and flushes it.
func (w *Writer) AddProbe(p Probe) error {
	w.csvMu.Lock()
	defer w.csvMu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := w.probes.write(row(probeColumns, &p)); err != nil {
		return fmt.Errorf("write %s: %w", ProbesFile, err)
	}
	return nil
}

// WriteSummary replaces summary.json atomically, with SchemaVersion set and RecordDir left out.
// While s.Complete is false it writes verdict "incomplete" and hang and saturated false whatever
// s says: a verdict is only final once the run is, and scripts can trust hang=true without also
// checking complete. It also works after Close, so a run can close the streams first and mark the record
// complete last: complete=true then promises the other files are whole.
func (w *Writer) WriteSummary(s Summary) error {
	s.SchemaVersion = SchemaVersion
	s.RecordDir = ""
	if !s.Complete {
		s.Verdict, s.Hang, s.HangOnsetS, s.Saturated = VerdictIncomplete, false, nil, false
	}
	// An empty object, not null, so scripts can index it without a null check.
	if s.Errors == nil {
		s.Errors = map[string]int{}
	}
	return w.writeJSON(SummaryFile, s)
}

// WriteConfig writes v as indented JSON to config.json, atomically. It also works after Close.
func (w *Writer) WriteConfig(v any) error { return w.writeJSON(ConfigFile, v) }

func (w *Writer) writeJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return w.writeAtomic(name, append(data, '\n'))
}

// WriteFile writes data to name in the record atomically, replacing an earlier version. name is
// a path inside the record ("server.log", "pprof/heap.pb.gz"); the streamed files cannot be
// replaced this way. It also works after Close.
func (w *Writer) WriteFile(name string, data []byte) error {
	if !filepath.IsLocal(name) {
		return fmt.Errorf("write %q: not a path inside the record", name)
	}
	switch filepath.Clean(name) {
	case ResultsFile, TimelineFile, ProbesFile:
		return fmt.Errorf("write %q: streamed by the record writer", name)
	}
	return w.writeAtomic(name, data)
}

func (w *Writer) writeAtomic(name string, data []byte) error {
	return WriteFileAtomic(w.dir, name, data)
}

// WriteFileAtomic writes dirName/name through a temp file beside it, synced and renamed over
// the target, so a reader sees the old or the new file, never a part, even if sim is killed
// meanwhile. name may hold subfolders, which are made.
//
// It never writes through a symbolic link below dirName (dirName itself is the caller's
// choice and may be one): a record or report folder can come from elsewhere (an archive, a
// shared disk), and a link in it (charts/ -> ~/.ssh) would send our files wherever it points.
// Such a link is refused with an *invalid.Error naming it, rather than replaced: it is not ours
// to delete, and its owner may have made it on purpose. The checks use Lstat, and every open
// and rename goes through an os.Root, so that a link swapped in meanwhile cannot lead outside
// dirName either.
func WriteFileAtomic(dirName, name string, data []byte) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("write %s: %w", name, err)
		}
	}()
	rel := filepath.Clean(name)
	if !filepath.IsLocal(rel) {
		return errors.New("not a path inside the folder")
	}
	if dirName == "" {
		dirName = "."
	}
	if err := os.MkdirAll(dirName, dirPerm); err != nil {
		return err
	}
	root, err := os.OpenRoot(dirName)
	if err != nil {
		return err
	}
	defer root.Close()
	sub := filepath.Dir(rel)
	if err := mkdirNoFollow(root, dirName, sub); err != nil {
		return err
	}
	if err := refuseLink(root, dirName, rel); err != nil {
		return err
	}
	tmp, tmpName, err := createTemp(root, sub, filepath.Base(rel))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			root.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(filePerm); err != nil {
		return err
	}
	// Without the sync a crash after the rename can leave an empty file under the final name.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := root.Rename(tmpName, rel); err != nil {
		return err
	}
	return syncDir(root, sub)
}

// RefuseLinks returns the error WriteFileAtomic would give for the first symbolic link among
// the folders and files of names below dir, so that a writer of several files (a report) can
// refuse before writing any of them. A dir that does not exist yet holds no link.
func RefuseLinks(dir string, names ...string) error {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	for _, name := range names {
		path := ""
		for _, part := range strings.Split(filepath.Clean(name), string(filepath.Separator)) {
			path = filepath.Join(path, part)
			if err := refuseLink(root, dir, path); err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
		}
	}
	return nil
}

// mkdirNoFollow makes the folders of sub inside root one by one, refusing any that is a link.
func mkdirNoFollow(root *os.Root, dirName, sub string) error {
	if sub == "." {
		return nil
	}
	path := ""
	for _, part := range strings.Split(sub, string(filepath.Separator)) {
		path = filepath.Join(path, part)
		if err := refuseLink(root, dirName, path); err != nil {
			return err
		}
		err := root.Mkdir(path, dirPerm)
		if err == nil || errors.Is(err, fs.ErrExist) {
			// An existing entry must be a folder, and still no link (Mkdir may have lost a race).
			fi, err := root.Lstat(path)
			if err != nil {
				return err
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				return linkError(root, dirName, path)
			}
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a folder", filepath.Join(dirName, path))
			}
			continue
		}
		return err
	}
	return nil
}

// refuseLink returns an *invalid.Error if path (inside root) is a symbolic link.
func refuseLink(root *os.Root, dirName, path string) error {
	fi, err := root.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return linkError(root, dirName, path)
	}
	return nil
}

func linkError(root *os.Root, dirName, path string) error {
	target, _ := root.Readlink(path)
	return &invalid.Error{
		Field:   filepath.Join(dirName, path),
		Value:   "a symbolic link to " + target,
		Allowed: "a plain file or folder: sim does not write through symbolic links inside the folder it writes to; remove the link or write elsewhere",
	}
}

// tempAttempts bounds the search for a free temp name; a clash needs a 64-bit random collision.
const tempAttempts = 100

// createTemp makes a new file sub/.base.tmp-RANDOM inside root, mode 0600 until the caller
// sets it. O_EXCL refuses any existing name, a link included.
func createTemp(root *os.Root, sub, base string) (*os.File, string, error) {
	for range tempAttempts {
		name := filepath.Join(sub, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", errors.New("no free temp file name")
}

// syncDir makes a rename in root's folder dir durable.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close flushes and closes the streamed files. It is idempotent: later calls return the first
// call's result.
func (w *Writer) Close() error {
	w.csvMu.Lock()
	defer w.csvMu.Unlock()
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	close(w.stopFlush)
	<-w.flushDone

	var errs []error
	w.resMu.Lock()
	errs = append(errs, w.flushResultsLocked())
	if err := w.resFile.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("sync %s: %w", ResultsFile, err))
	}
	if err := w.resFile.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s: %w", ResultsFile, err))
	}
	w.resFile = nil
	w.resMu.Unlock()

	for _, c := range []struct {
		name string
		f    *csvFile
	}{{TimelineFile, w.timeline}, {ProbesFile, w.probes}} {
		c.f.w.Flush()
		if err := c.f.w.Error(); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", c.name, err))
		}
		if err := c.f.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", c.name, err))
		}
		if err := c.f.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", c.name, err))
		}
	}
	// The reserve goes last: its space is for the summary written after Close.
	if err := os.Remove(filepath.Join(w.dir, reserveFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove %s: %w", reserveFile, err))
	}
	w.closeErr = errors.Join(errs...)
	return w.closeErr
}

// NewRunDir names a new record folder under base: base/20061102-150405-topology from now (in
// now's location), with -2, -3, ... added when that folder exists. Characters of topology that
// do not belong in a folder name become '-'. Create still refuses an existing folder, which
// covers a race between two runs.
func NewRunDir(base, topology string, now time.Time) string {
	name := now.Format(runDirTimeLayout)
	if t := sanitizeName(topology); t != "" {
		name += "-" + t
	}
	dir := filepath.Join(base, name)
	for i := 2; ; i++ {
		// Any error, not only "does not exist", ends the search: Create reports it better.
		if _, err := os.Lstat(dir); err != nil {
			return dir
		}
		dir = filepath.Join(base, fmt.Sprintf("%s-%d", name, i))
	}
}

func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, strings.Trim(s, "."))
}
