package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// IncidentCloseWait is the write-up's figure: the server hung at the 4,023rd CLOSE_WAIT socket,
// the fd limit (4096) less the JVM's own files.
const IncidentCloseWait = 4023

// GoroutinesFile is the app's goroutine dump at load end, saved in the record.
const GoroutinesFile = "goroutines.txt"

// SignatureLine is one line of the incident's signature: what the write-up reported, what this
// run measured, and whether the measurement shows it.
type SignatureLine struct {
	Symptom  string `json:"symptom"`
	Incident string `json:"incident"`
	Measured string `json:"measured"`
	Shown    bool   `json:"shown"`
}

// ServerSettings are the few server settings of a record the signature needs, from config.json.
type ServerSettings struct {
	MaxThreads int    `json:"max_threads"`
	NoFile     int    `json:"nofile"`
	Connector  string `json:"connector"`
	Static     struct {
		Server string `json:"server"`
	} `json:"static"`
}

// ReadServerSettings reads the server section of a record's config.json.
func ReadServerSettings(dir string) (ServerSettings, error) {
	var c struct {
		Server ServerSettings `json:"server"`
	}
	data, err := ReadFile(dir, ConfigFile)
	if err != nil {
		return c.Server, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c.Server, jsonError(filepath.Join(dir, ConfigFile), data, err)
	}
	return c.Server, nil
}

// StuckInSelfCall counts, in a Go goroutine dump (debug=1 format), the goroutines of /page
// handlers that are inside the self-call client: our equivalent of the thread dump's workers
// WAITING on the self-call.
func StuckInSelfCall(dump []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(dump))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	count, inPage, inCall := 0, false, false
	flush := func() {
		if inPage && inCall {
			n += count
		}
		count, inPage, inCall = 0, false, false
	}
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && f[1] == "@" {
			flush()
			count, _ = strconv.Atoi(f[0])
			continue
		}
		if strings.Contains(line, "selfcall.(*Client).Get") {
			inCall = true
		}
		if strings.Contains(line, "app.(*App).page") {
			inPage = true
		}
	}
	flush()
	return n
}

// Signature compares a self run and a split run with the incident, line by line.
func Signature(self, split *Record) []SignatureLine {
	var lines []SignatureLine
	s := self.Summary
	set, _ := ReadServerSettings(self.Dir)

	// 1. Throughput collapses to ~0.
	l := SignatureLine{Symptom: "throughput degrades, then collapses to ~0", Incident: "slowed, then hung"}
	if s.Collapse && s.CollapseOnsetS != nil {
		after, offered := okAfter(self.Timeline, *s.CollapseOnsetS)
		l.Measured = fmt.Sprintf("collapse at %.1f s, %.0f rps offered; then %.1f OK rps of %.0f offered", *s.CollapseOnsetS, deref(s.OnsetRateRPS), after, offered)
		l.Shown = offered > 0 && after < 0.05*offered
	} else {
		l.Measured = "no collapse"
	}
	lines = append(lines, l)

	// 2. CLOSE_WAIT climbs, ESTABLISHED stays low, the fd limit stops accept.
	l = SignatureLine{Symptom: "CLOSE_WAIT climbs while ESTABLISHED stays low, until the fd limit stops accept()",
		Incident: fmt.Sprintf("%s CLOSE_WAIT at the fd limit (4096)", thousands(IncidentCloseWait))}
	first := -1
	maxEst, held, heldT := 0, 0, 0.0
	for i, r := range self.Timeline {
		if first < 0 && r.AcceptErrors > 0 {
			first = i
		}
		maxEst = max(maxEst, r.Established)
		// Sockets in the listen backlog were never accepted and hold no fd of the app: the
		// incident's count is of the accepted ones, which is what ran into the fd limit.
		if h := r.CloseWait - r.AcceptQueue; h > held {
			held, heldT = h, r.T
		}
	}
	if first >= 0 {
		r := self.Timeline[first]
		l.Measured = fmt.Sprintf("%s CLOSE_WAIT holding fds at %.1f s (fd limit %d); accept() failing from %.1f s (%d errors); ESTABLISHED at most %d; %s CLOSE_WAIT with the listen backlog",
			thousands(held), heldT, set.NoFile, r.T, s.AcceptErrors, maxEst, thousands(s.PeakCloseWait))
		l.Shown = set.NoFile > 0 && float64(held) >= 0.8*float64(set.NoFile) && maxEst < held/2
	} else {
		l.Measured = fmt.Sprintf("no accept errors; peak CLOSE_WAIT %s (fd limit %d)", thousands(s.PeakCloseWait), set.NoFile)
	}
	lines = append(lines, l)

	// 3. Every worker waits in the self-call.
	l = SignatureLine{Symptom: "every worker is stuck in the self-call", Incident: "thread dumps: workers WAITING for the self-call"}
	busy := 0
	if n := len(self.Timeline); n > 0 {
		busy = self.Timeline[n-1].WorkersBusy
	}
	dump, derr := ReadFile(self.Dir, GoroutinesFile)
	stuck := StuckInSelfCall(dump)
	if derr != nil {
		l.Measured = fmt.Sprintf("/stats: %d of %d workers busy; no goroutine dump in the record", busy, set.MaxThreads)
	} else {
		l.Measured = fmt.Sprintf("/stats: %d of %d workers busy; goroutine dump: %d /page handlers inside the self-call client", busy, set.MaxThreads, stuck)
		l.Shown = set.MaxThreads > 0 && busy == set.MaxThreads && stuck == set.MaxThreads
	}
	lines = append(lines, l)

	// 4. No recovery.
	okProbes := 0
	for _, p := range self.Probes {
		if p.OK {
			okProbes++
		}
	}
	lines = append(lines, SignatureLine{
		Symptom:  "no recovery after the load stops",
		Incident: "did not recover after the test",
		Measured: fmt.Sprintf("%d of %d probes OK over %.0f s after the load", okProbes, len(self.Probes), s.RecoveryWindowS),
		Shown:    !s.Recovered && len(self.Probes) > 0,
	})

	// 5. The fix.
	if split != nil {
		p := split.Summary
		ss, _ := ReadServerSettings(split.Dir)
		server := ss.Static.Server
		if server == "" {
			server = "embedded"
		}
		l = SignatureLine{Symptom: "split (static file from " + server + "): no hang, no CLOSE_WAIT pile-up, immediate recovery",
			Incident: "fixed by serving the HTML from nginx"}
		rec := "not recovered"
		if p.Recovered && p.RecoveryS != nil {
			rec = fmt.Sprintf("first probe OK %.1f s after the load", *p.RecoveryS)
		}
		l.Measured = fmt.Sprintf("verdict %s; peak CLOSE_WAIT %d; %s; %d of %d requests OK", p.Verdict, p.PeakCloseWait, rec, p.OK, p.Requests)
		interval := 1.0
		if len(split.Probes) > 1 {
			interval = split.Probes[1].SinceLoadEnd - split.Probes[0].SinceLoadEnd + 0.5
		}
		l.Shown = !p.Collapse && p.Recovered && p.RecoveryS != nil && *p.RecoveryS <= interval &&
			p.PeakCloseWait <= max(10, s.PeakCloseWait/20)
		lines = append(lines, l)
	}
	return lines
}

// okAfter is the mean OK and offered rates over the load windows from t on.
func okAfter(tl []Sample, t float64) (okRPS, offeredRPS float64) {
	n := 0
	for _, r := range tl {
		if r.Phase == PhaseLoad && r.T > t {
			okRPS += r.OKRPS
			offeredRPS += r.OfferedRPS
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return okRPS / float64(n), offeredRPS / float64(n)
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// thousands renders 4023 as "4,023".
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// PileLine is the signature line of where a runtime's CLOSE_WAIT sockets pile up, for `sim
// reproduce --runtime`: in the listen backlog (never accepted, no fd of the app) when
// inBacklog, as on gunicorn, PHP-FPM and Puma, else held by the app, as on Tomcat and Jetty.
// real is what the real runtime showed on its rig.
func PileLine(self *Record, inBacklog bool, real string) SignatureLine {
	s := self.Summary
	l := SignatureLine{Incident: real}
	inQueue := min(s.PeakAcceptQueue, s.PeakCloseWait)
	share := 0.0
	if s.PeakCloseWait > 0 {
		share = float64(inQueue) / float64(s.PeakCloseWait)
	}
	l.Measured = fmt.Sprintf("peak CLOSE_WAIT %s, peak listen backlog %s (%.0f %% of the CLOSE_WAIT count); accept errors %d",
		thousands(s.PeakCloseWait), thousands(s.PeakAcceptQueue), 100*share, s.AcceptErrors)
	if inBacklog {
		l.Symptom = "CLOSE_WAIT piles up in the listen backlog: connections never accepted, holding no fd of the app"
		l.Shown = s.PeakCloseWait >= 100 && share >= 0.8
	} else {
		l.Symptom = "CLOSE_WAIT piles up held by the app: accepted connections, each an fd"
		l.Shown = s.PeakCloseWait >= 100 && share <= 0.2
	}
	return l
}
