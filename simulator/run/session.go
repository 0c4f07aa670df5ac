package run

import (
	"fmt"
	"time"

	"github.com/simdev/sim/results"
)

// InProgress is the interrupted_reason of the summary a run writes before it starts: a record
// whose run was killed keeps it.
const InProgress = "run in progress (or killed before it could finish)"

// Session is one run record from its first file to its last: config.json, a summary.json
// marked incomplete (so that a run killed on the way leaves a record that says so), the
// streams the engine writes as it goes, and the final summary. Both engines keep a record
// through one, so a record is finished one way.
type Session struct {
	rec *results.Writer
	// Summary is the summary as it stands; the engine fills in what it learns (URLs, PIDs).
	Summary results.Summary
	// Mask, if set, masks credentials in the reasons the summary keeps.
	Mask func(string) string
}

// Start writes config and sum, marked incomplete and in progress, into rec. On an error rec
// holds no summary: the caller discards it.
func Start(rec *results.Writer, config any, sum results.Summary) (*Session, error) {
	if err := rec.WriteConfig(config); err != nil {
		return nil, err
	}
	sum.SchemaVersion = results.SchemaVersion
	sum.Verdict = results.VerdictIncomplete
	sum.InterruptedReason = InProgress
	if err := rec.WriteSummary(sum); err != nil {
		return nil, err
	}
	return &Session{rec: rec, Summary: sum}, nil
}

// Record is the session's writer: the streams (results, samples, probes) and extra files.
func (s *Session) Record() *results.Writer { return s.rec }

// Save writes the summary as it stands (still incomplete).
func (s *Session) Save() error { return s.rec.WriteSummary(s.Summary) }

// Finish ends the record: it closes the streams (flushed and synced before the summary can say
// complete, so that it promises whole files), has fill (if set) fill the summary from what was
// observed, marks it complete when runErr and the close are nil (otherwise incomplete, with the
// reason), and writes it. It returns the outcome and the run's error, joined with any error of
// its own.
func (s *Session) Finish(runErr error, fill func(*results.Summary)) (*Outcome, error) {
	if cerr := s.rec.Close(); cerr != nil && runErr == nil {
		runErr = fmt.Errorf("close run record: %w", cerr)
	}
	sum := &s.Summary
	if fill != nil {
		fill(sum)
	}
	sum.FinishedAt = time.Now().UTC()
	sum.Complete = runErr == nil
	sum.InterruptedReason = ""
	if runErr != nil {
		sum.Verdict = results.VerdictIncomplete
		sum.InterruptedReason = s.mask(runErr.Error())
	}
	if werr := s.rec.WriteSummary(*sum); werr != nil {
		if runErr == nil {
			runErr = werr
		} else {
			runErr = fmt.Errorf("%w (and the final summary: %v)", runErr, werr)
		}
	}
	return &Outcome{Dir: s.rec.Dir(), Summary: *sum}, runErr
}

func (s *Session) mask(v string) string {
	if s.Mask == nil {
		return v
	}
	return s.Mask(v)
}
