package results

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/invalid"
)

// Record is a run record loaded by Read.
type Record struct {
	// Dir is the folder it was read from; Summary.RecordDir is set to it too.
	Dir      string
	Summary  Summary
	Timeline []Sample
	Probes   []Probe
}

// Read loads the record in dir. summary.json must exist and have a schema_version this sim
// reads. The CSV files are matched by header name, so columns may move and unknown columns
// (from a newer sim) are skipped; a half-written last row, which an interrupted run leaves, is
// dropped. A missing CSV file reads as no rows: the summary alone is still worth showing.
// results.bin is not loaded here; see ReadResults.
func Read(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &recordError{
			msg: fmt.Sprintf("%s is not a run record: it has no %s", dir, SummaryFile),
			errs: []error{err, &invalid.Error{
				Field: "record", Value: dir, Allowed: "a folder written by sim run (with " + SummaryFile + ")",
			}},
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read record %s: %w", dir, err)
	}
	if err := checkSchema(dir, data); err != nil {
		return nil, err
	}
	rec := &Record{Dir: dir}
	if err := json.Unmarshal(data, &rec.Summary); err != nil {
		return nil, fmt.Errorf("read record %s: %s: %w", dir, SummaryFile, err)
	}
	rec.Summary.RecordDir = dir
	if rec.Timeline, err = readCSV(dir, TimelineFile, sampleColumns); err != nil {
		return nil, err
	}
	if rec.Probes, err = readCSV(dir, ProbesFile, probeColumns); err != nil {
		return nil, err
	}
	return rec, nil
}

// checkSchema refuses a summary without a schema_version or with one newer than this sim
// knows: reading it anyway would give a report built on keys that may have changed meaning.
func checkSchema(dir string, data []byte) error {
	var head struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("read record %s: %s: %w", dir, SummaryFile, err)
	}
	switch v := head.SchemaVersion; {
	case v == nil || *v <= 0:
		return &recordError{
			msg: fmt.Sprintf("record %s has no schema_version in %s: it was not written by sim", dir, SummaryFile),
			errs: []error{&invalid.Error{
				Field: "schema_version", Value: head.SchemaVersion, Allowed: fmt.Sprintf("1 to %d", SchemaVersion),
				Source: filepath.Join(dir, SummaryFile),
			}},
		}
	case *v > SchemaVersion:
		return &recordError{
			msg: fmt.Sprintf("record %s has schema_version %d; this sim reads up to %d: upgrade sim", dir, *v, SchemaVersion),
			errs: []error{&invalid.Error{
				Field: "schema_version", Value: *v, Allowed: fmt.Sprintf("1 to %d", SchemaVersion),
				Source: filepath.Join(dir, SummaryFile),
			}},
		}
	}
	return nil
}

// recordError carries a message written for the user and wraps an *invalid.Error, so cmd/sim
// exits 2 for a record the user pointed at by mistake, without invalid's generic wording.
type recordError struct {
	msg  string
	errs []error
}

func (e *recordError) Error() string   { return e.msg }
func (e *recordError) Unwrap() []error { return e.errs }

func readCSV[T any](dir, name string, cols []column[T]) ([]T, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read record %s: %w", dir, err)
	}
	// The writer ends every row with a newline in the same write, and no field holds a newline:
	// bytes after the last newline are a row the run was killed while writing.
	data = data[:bytes.LastIndexByte(data, '\n')+1]

	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	head, err := r.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read record %s: %s: %w", dir, name, err)
	}
	byName := make(map[string]*column[T], len(cols))
	for i := range cols {
		byName[cols[i].name] = &cols[i]
	}
	idx := make([]*column[T], len(head))
	for i, h := range head {
		idx[i] = byName[h]
	}
	nfields := len(head)

	var out []T
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read record %s: %s: %w", dir, name, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != nfields {
			return nil, fmt.Errorf("read record %s: %s: line %d: %d fields, header has %d", dir, name, line, len(rec), nfields)
		}
		var v T
		if err := decodeRow(idx, rec, &v); err != nil {
			return nil, fmt.Errorf("read record %s: %s: line %d: %w", dir, name, line, err)
		}
		out = append(out, v)
	}
}

// ReadResults decodes results.bin in dir with vegeta's decoder and calls fn for each result in
// order, with a new *Result each time. It stops at the first error fn returns and returns it
// unwrapped, so a caller can stop early with a sentinel. A result cut short at the end of the
// file (a run killed mid-write) ends the stream like a clean end.
func ReadResults(dir string, fn func(*vegeta.Result) error) error {
	f, err := os.Open(filepath.Join(dir, ResultsFile))
	if err != nil {
		return fmt.Errorf("read record %s: %w", dir, err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(bufio.NewReader(f))
	for {
		// A fresh Result each time: gob leaves fields that are zero in the stream untouched, so
		// decoding into a reused one would carry the previous result's error or body over.
		r := new(vegeta.Result)
		err := dec.Decode(r)
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read record %s: %s: %w", dir, ResultsFile, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}
