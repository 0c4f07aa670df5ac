package results

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/userfile"
)

// Caps on the files of a record and of a plan folder, which ReadFile reads through: a folder a
// user points sim at may hold anything under these names, a FIFO or a disk image included.
const (
	// maxSummarySize: summary.json is one fixed set of keys however long the run, about 2 KiB
	// for a day-long run as for a 20-second one (counts grow in digits, not in keys); only free
	// text (an interruption reason, URLs) varies. 1 MiB is far beyond any summary sim writes.
	maxSummarySize = 1 << 20
	// maxTimelineSize: timeline.csv has a row per observation window, at most ~600 bytes (39
	// columns), and a run at most 400,000 windows (loadprofiles.MaxWindows: a day at the
	// default 250 ms): 240 MB.
	maxTimelineSize = 256 << 20
	// maxProbesSize: probes.csv has a row per recovery probe, ~100 bytes and a few hundred with
	// an error message, and a run at most 100,000 probes (loadprofiles.MaxRecoveryProbes).
	maxProbesSize = 64 << 20
	// maxConfigSize: config.json is the run's profile and server settings: a few KiB, a few MiB
	// for a profile of thousands of stages at the profile's own 512 KiB cap.
	maxConfigSize = 8 << 20
	// maxGoroutinesSize: goroutines.txt is the app's goroutine dump, in the form that groups
	// identical stacks: tens of KiB even with thousands of workers.
	maxGoroutinesSize = 64 << 20
	// maxOtherSize caps any other file ReadFile is asked for.
	maxOtherSize = 64 << 20
)

// maxNumber bounds every number read back from a record or a plan. No run writes one near it:
// the largest are latencies of a day-long run in milliseconds (8.64e7) and times in seconds
// (8.64e4). A larger one is a corrupt or hand-edited file, and the reports' arithmetic on it
// (seconds to milliseconds, sums over windows) could leave float64's range (1.8e308) and fail
// far from where the number could be named, in a JSON encoder or a chart.
const maxNumber = 1e12

// ReadFile reads the file name of the record or plan folder dir through userfile, under the cap
// for that file: only a regular file, and every failure an *invalid.Error naming the path (the
// folder is the user's input). A missing file's error wraps fs.ErrNotExist.
func ReadFile(dir, name string) ([]byte, error) {
	limit := int64(maxOtherSize)
	switch name {
	case SummaryFile:
		limit = maxSummarySize
	case TimelineFile:
		limit = maxTimelineSize
	case ProbesFile:
		limit = maxProbesSize
	case ConfigFile:
		limit = maxConfigSize
	case GoroutinesFile:
		limit = maxGoroutinesSize
	case PlanFile:
		limit = maxPlanSize
	}
	return userfile.Read(name, filepath.Join(dir, name), limit)
}

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
//
// Everything that makes a record unreadable is the user's input that cannot be used, an error
// wrapping an *invalid.Error naming the file (and the line and the key where there is one): a
// file that is not a regular file or is too big (ReadFile), malformed JSON or CSV, and numbers
// that are not finite or beyond maxNumber.
func Read(dir string) (*Record, error) {
	path := filepath.Join(dir, SummaryFile)
	data, err := ReadFile(dir, SummaryFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &recordError{
			msg: fmt.Sprintf("%s is not a run record: it has no %s", dir, SummaryFile),
			errs: []error{err, &invalid.Error{
				Field: "record", Value: dir, Allowed: "a folder written by sim run (with " + SummaryFile + ")",
			}},
		}
	}
	if err != nil {
		return nil, err
	}
	if err := checkSchema(dir, data); err != nil {
		return nil, err
	}
	rec := &Record{Dir: dir}
	if err := json.Unmarshal(data, &rec.Summary); err != nil {
		return nil, jsonError(path, data, err)
	}
	if err := CheckNumbers(path, rec.Summary); err != nil {
		return nil, err
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
		return jsonError(filepath.Join(dir, SummaryFile), data, err)
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
	path := filepath.Join(dir, name)
	data, err := ReadFile(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
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
		return nil, csvError(path, err)
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
			return nil, csvError(path, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != nfields {
			return nil, &invalid.Error{Source: fmt.Sprintf("%s, line %d", path, line), Field: "row", Value: fmt.Sprintf("%d fields", len(rec)),
				Allowed: fmt.Sprintf("%d fields, as many as the header has", nfields)}
		}
		var v T
		if err := decodeRow(idx, rec, &v); err != nil {
			err.Source = fmt.Sprintf("%s, line %d", path, line)
			return nil, err
		}
		out = append(out, v)
	}
}

// csvError is a malformed CSV file (a stray quote): the parser's message names the line.
func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &invalid.Error{Source: fmt.Sprintf("%s, line %d", path, pe.Line), Field: "csv", Value: pe.Err.Error(),
			Allowed: "CSV as sim run writes it"}
	}
	return &invalid.Error{Source: path, Field: "csv", Value: err.Error(), Allowed: "CSV as sim run writes it"}
}

// jsonError turns the JSON decoder's error about the file at path into an *invalid.Error with
// the line and, for a value of the wrong type, the key.
func jsonError(path string, data []byte, err error) error {
	line := func(off int64) string {
		off = min(max(off, 0), int64(len(data)))
		return fmt.Sprintf("%s, line %d", path, 1+bytes.Count(data[:off], []byte("\n")))
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return &invalid.Error{Source: line(te.Offset), Field: te.Field, Value: "a JSON " + te.Value, Allowed: describe(te.Type)}
	case errors.As(err, &se):
		return &invalid.Error{Source: line(se.Offset), Field: filepath.Base(path), Value: se.Error(), Allowed: "JSON as sim writes it"}
	}
	return &invalid.Error{Source: path, Field: filepath.Base(path), Value: err.Error(), Allowed: "JSON as sim writes it"}
}

// describe says in words what a JSON value of Go type t must be.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return describe(t.Elem()) + " or null"
	case reflect.Float32, reflect.Float64:
		return numberWords()
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint64:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// numberWords says what a number read back must be.
func numberWords() string {
	return fmt.Sprintf("a finite number of magnitude at most %g (no run writes more)", float64(maxNumber))
}

// parseNumber reads a float column of a CSV file: NaN, the infinities and numbers beyond
// maxNumber are refused (ParseFloat takes "NaN" and "Inf").
func parseNumber(s string) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(x) || math.Abs(x) > maxNumber {
		return 0, errors.New("not a finite number within range")
	}
	return x, nil
}

// CheckNumbers returns an *invalid.Error, with source as its Source, for the first float in v
// (a struct decoded from JSON, walked field by field by JSON name) that is not finite or is
// beyond maxNumber. JSON cannot carry NaN, but it carries 1e305, which a report's conversion to
// milliseconds turns into +Inf, which JSON cannot encode.
func CheckNumbers(source string, v any) error {
	if err := checkNumbers(reflect.ValueOf(v), ""); err != nil {
		err.Source = source
		return err
	}
	return nil
}

func checkNumbers(v reflect.Value, path string) *invalid.Error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkNumbers(v.Elem(), path)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return nil
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name := jsonName(f)
			if !f.IsExported() || name == "-" {
				continue
			}
			if err := checkNumbers(v.Field(i), joinPath(path, name)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkNumbers(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			if err := checkNumbers(v.MapIndex(k), joinPath(path, fmt.Sprint(k))); err != nil {
				return err
			}
		}
	case reflect.Float32, reflect.Float64:
		if x := v.Float(); math.IsNaN(x) || math.Abs(x) > maxNumber {
			return &invalid.Error{Field: path, Value: x, Allowed: numberWords()}
		}
	}
	return nil
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// ReadResults decodes results.bin in dir with vegeta's decoder and calls fn for each result in
// order, with a new *Result each time. It stops at the first error fn returns and returns it
// unwrapped, so a caller can stop early with a sentinel. A result cut short at the end of the
// file (a run killed mid-write) ends the stream like a clean end.
func ReadResults(dir string, fn func(*vegeta.Result) error) error {
	path := filepath.Join(dir, ResultsFile)
	// Streamed rather than read whole, so no size cap: a day-long run's results.bin is
	// gigabytes, and a caller keeps what it needs of each result.
	f, err := userfile.Open(ResultsFile, path)
	if err != nil {
		return err
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
			return &invalid.Error{Source: path, Field: ResultsFile, Value: err.Error(), Allowed: "results as sim run writes them (vegeta's gob encoding)"}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}
