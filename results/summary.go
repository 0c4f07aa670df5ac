package results

import (
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the version of the record layout this sim writes and the newest it reads.
// Bump it when a change would make an older sim misread a record (a renamed or re-meant key),
// not for added keys, which older readers ignore.
const SchemaVersion = 1

// Verdicts, as written in Summary.Verdict.
const (
	// VerdictOK: good throughput never collapsed during the load, nor held below the offered
	// rate for hang_hold.
	VerdictOK = "ok"
	// VerdictSaturated: the app reached its capacity (good throughput held below the offered
	// rate for at least hang_hold: CapacityRPS), or its throughput collapsed under load but it
	// answered again after the load stopped, as a merely overloaded server does.
	VerdictSaturated = "saturated"
	// VerdictHang: throughput collapsed and the app did not answer again within the recovery
	// window: the self-call deadlock. Also a collapse the app answered again after, but only
	// once it had been stuck after the load (StuckAfterLoadS: nothing answered, nothing
	// drained) for at least StuckMin: a hang that a timer (a client library's read timeout and
	// retry, a watchdog) ended, which a merely overloaded server never shows.
	VerdictHang = "hang"
	// VerdictIncomplete: the run was interrupted before a verdict could be reached.
	VerdictIncomplete = "incomplete"
)

// Engines, as written in Summary.Engine.
const (
	// EngineSockets: sim serve on loopback sockets, loaded by vegeta (the default).
	EngineSockets = "sockets"
	// EngineModel: the virtual-time model of the same server and load (simulator/model).
	EngineModel = "model"
)

// Error kinds from Classify, also the keys of Summary.Errors. A complete response that is not
// a 2xx is HTTPKind(status), "http_503"; KindHTTP alone is its kind in records written before
// the status was kept, and the name of the timeline's column that counts them all (err_http).
const (
	KindOK      = "ok"
	KindTimeout = "timeout"
	KindRefused = "refused"
	KindReset   = "reset"
	KindHTTP    = "http"
	KindOther   = "other"
)

// Summary is summary.json, also printed by `sim run --json`. Keys for values that only exist
// when something happened (an onset, a recovery) are JSON null otherwise, never 0: 0 s is a
// valid onset time and would read as "hung at once".
type Summary struct {
	// SchemaVersion is set to SchemaVersion by WriteSummary whatever the caller put there.
	SchemaVersion int    `json:"schema_version"`
	Topology      string `json:"topology"`
	// Runtime is the server runtime sim's server imitated (internal/runtimes: tomcat, gunicorn,
	// ...); empty in records of an external target and in records written before runtimes.
	Runtime string `json:"runtime,omitempty"`
	// Profile is the load profile's name.
	Profile string `json:"profile"`
	// Engine is what produced the record: EngineSockets, a run on real sockets, or EngineModel,
	// the virtual-time model (simulator/model), which opened no socket. Empty in records written
	// before the key existed, which are all socket runs.
	Engine string `json:"engine,omitempty"`
	// RecordDir is the record's folder. It is derived (filled by Read, or by the runner before
	// printing) and never stored, so a moved or copied record stays right.
	RecordDir  string    `json:"record_dir,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`

	// Servers: where the run's children listened, and the pid of `sim serve`, so that anyone
	// (a test, a person) can check that nothing was left behind.
	AppURL    string `json:"app_url,omitempty"`
	AdminURL  string `json:"admin_url,omitempty"`
	StaticURL string `json:"static_url,omitempty"`
	// PoolURL is the worker pool's connector behind a front proxy (front_proxy), whose port the
	// census counts; AppURL is then the proxy's.
	PoolURL  string `json:"pool_url,omitempty"`
	ServePID int    `json:"serve_pid,omitempty"`

	// Complete is false from the start of the run until the final summary is written, so an
	// interrupted run leaves a record marked incomplete.
	Complete bool `json:"complete"`
	// InterruptedReason says why the run stopped early ("signal: interrupt", an error); empty
	// when complete.
	InterruptedReason string `json:"interrupted_reason"`
	// Verdict is one of VerdictOK, VerdictSaturated, VerdictHang, VerdictIncomplete.
	Verdict string `json:"verdict"`

	// Collapse is true when good throughput fell below Thresholds.HangFraction of the offered
	// rate and stayed there to the end of the load (see package simulator/detect).
	Collapse       bool     `json:"collapse"`
	CollapseOnsetS *float64 `json:"collapse_onset_s"`
	// Hang is a collapse without recovery, or with a recovery that came only after the app had
	// been stuck (StuckAfterLoadS >= StuckMin: Recovered is then true too); HangOnsetS is then
	// the collapse onset, else null.
	// Only a complete record can show a hang: WriteSummary writes hang=false for an incomplete
	// one, whose app might still have answered had the run gone on probing.
	Hang       bool     `json:"hang"`
	HangOnsetS *float64 `json:"hang_onset_s"`
	// HangStage is the index, in the profile's stages, of the hold stage (mode: hold) the hang
	// began in, and HangAfterStageStartS how long after that stage's start: the time to hang
	// under a steady rate. Both null without a hang, when the hang began in a ramp, and in
	// records written before they existed.
	HangStage            *int     `json:"hang_stage"`
	HangAfterStageStartS *float64 `json:"hang_after_stage_start_s"`
	// The state at the collapse onset (hang or saturation): the offered rate (null without a
	// collapse), and the requests in flight, busy workers and server-side CLOSE_WAIT sockets at
	// the end of the onset window (0 without a collapse; Collapse says which).
	OnsetRateRPS     *float64 `json:"onset_rate_rps"`
	OnsetInFlight    int      `json:"onset_in_flight"`
	OnsetWorkersBusy int      `json:"onset_workers_busy"`
	OnsetCloseWait   int      `json:"onset_close_wait"`
	// Self-calls (the app's calls to its own port, from the census; see Sample): Selfcall
	// Measured is true when some window's census could attribute sockets to the app. At the
	// collapse onset (the end of its window, or the last measured window before it): the
	// waiting self-call sockets, the app's own count of workers inside a self-call (its
	// self-call pool's leased plus waiting callers, -1 when its admin did not answer), and
	// the first window with the census's warning (null when it never fired), with how long
	// before the onset it was (negative: after). PeakSelfcallSockets and SelfcallFirstSeenS
	// cover the whole run.
	SelfcallMeasured          bool     `json:"selfcall_measured"`
	OnsetSelfcallWaiting      int      `json:"onset_selfcall_waiting"`
	OnsetSelfcallOldestWaitMS int64    `json:"onset_selfcall_oldest_wait_ms"`
	OnsetWorkersInSelfcall    int      `json:"onset_workers_in_selfcall"`
	PeakSelfcallSockets       int      `json:"peak_selfcall_sockets"`
	SelfcallFirstSeenS        *float64 `json:"selfcall_first_seen_s"`
	SelfcallWarningS          *float64 `json:"selfcall_warning_s"`
	SelfcallWarningLeadS      *float64 `json:"selfcall_warning_lead_s"`

	// Saturated is true when the verdict is VerdictSaturated.
	Saturated bool `json:"saturated"`
	// CapacityRPS is the good (2xx) throughput the app plateaued at while the offered rate was
	// above it, for at least hang_hold (see package simulator/detect), and SaturationOnsetS the
	// start of that plateau: the capacity this topology reached under this load. Both null when
	// throughput kept up with the offered rate, in a collapse that came with no plateau, and in
	// records written before the keys existed. A hang may have one: its plateau came first.
	CapacityRPS      *float64 `json:"capacity_rps"`
	SaturationOnsetS *float64 `json:"saturation_onset_s"`

	// PeakCloseWait is the most server-side CLOSE_WAIT sockets in any window, PeakCloseWaitTS
	// the end of the first window that had it (0 when there were none).
	PeakCloseWait   int     `json:"peak_close_wait"`
	PeakCloseWaitTS float64 `json:"peak_close_wait_t_s"`
	// PeakAcceptQueue is the most connections waiting in the app's listen backlog (the LISTEN
	// socket's accept queue, Sample.AcceptQueue) in any window: where requests wait when the
	// connector accepts only with a free worker (bio), and where CLOSE_WAIT sockets that hold no
	// fd of the app sit. 0 in records written before the key existed.
	PeakAcceptQueue int `json:"peak_accept_queue"`
	PeakFDs         int `json:"peak_fds"`
	// SelfcallMeanMS is the app's mean self-call time (lease wait included) at the end of the
	// load, over the calls that completed.
	SelfcallMeanMS float64 `json:"selfcall_mean_ms"`
	// AcceptErrors is the app's accept() error count at the end (EMFILE once fds run out).
	AcceptErrors int64 `json:"accept_errors"`
	// WorkerKills is how many workers the watchdog (worker_timeout) killed during the run, load
	// and recovery probes together: 0 without a watchdog, and in records written before the key
	// existed.
	WorkerKills int64 `json:"worker_kills"`
	// ProxyTimeouts and ProxyClientClosed are the front proxy's 504s and 499s at the end
	// (front_proxy; 0 without one): nginx's "upstream timed out" and client-closed counts.
	ProxyTimeouts     int64 `json:"proxy_timeouts,omitempty"`
	ProxyClientClosed int64 `json:"proxy_client_closed,omitempty"`
	// PeakFrontCloseWait is the most server-side CLOSE_WAIT sockets on the front proxy's own
	// port (AppURL's) in any sample window, beside PeakCloseWait on the pool's: nil without a
	// front proxy, or when its port was not sampled (external mode).
	PeakFrontCloseWait *int `json:"peak_front_close_wait,omitempty"`

	// Recovered is true when a probe after the load got a 2xx; RecoveryS is how long after the
	// load stopped that probe was sent, null when not recovered.
	Recovered bool     `json:"recovered"`
	RecoveryS *float64 `json:"recovery_s"`
	// StuckAfterLoadS is the longest stretch after the load, before the app answered again, in
	// which requests waited for it (its worker queue and listen backlog, Sample.Queued and
	// AcceptQueue) and none of them was taken: the app was stuck, not draining. Null when
	// nothing waited or the record cannot tell (no queue measured: an external target without
	// --admin whose waiting requests sit in process).
	StuckAfterLoadS *float64 `json:"stuck_after_load_s"`
	// FailedLoadShare is the share of the requests completed during the load that failed
	// (timeouts, errors, non-2xx). A run without a collapse or a capacity plateau that failed
	// at least FailingShare of them is saturated, not OK.
	FailedLoadShare float64 `json:"failed_load_share"`
	// RecoveryWindowS is how long the runner probed for recovery after the load.
	RecoveryWindowS float64 `json:"recovery_window_s"`
	// LoadDurationS is how long the load was offered.
	LoadDurationS float64 `json:"load_duration_s"`
	// StoppedOnHang is true when the run was asked to stop on a hang (`sim run
	// --stop-on-hang`) and ended the load early once the collapse had held for hang_hold;
	// LoadStoppedS is then when, in seconds since the load started (equal to LoadDurationS),
	// else null.
	StoppedOnHang bool     `json:"stopped_on_hang"`
	LoadStoppedS  *float64 `json:"load_stopped_s"`

	// Requests is the number of results of the attack, OK those with a 2xx status.
	Requests int `json:"requests"`
	OK       int `json:"ok"`
	// Errors counts the failed results by Classify's kind (timeout, refused, reset, http_503
	// and the like by status, other; "http" in records written before the status was kept).
	Errors map[string]int `json:"errors"`
	// Latencies over all results of the attack, in milliseconds.
	P50MS float64 `json:"p50_ms"`
	P90MS float64 `json:"p90_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`

	// Thresholds are the detection thresholds the verdict was reached with, so a report can
	// state its definitions.
	Thresholds Thresholds `json:"thresholds"`

	// Census says where the timeline's socket columns came from; null in model runs and in
	// records written before the key existed (all counted by the local kernel).
	Census *Census `json:"census,omitempty"`
}

// Census sources, as written in Census.Source.
const (
	// CensusLocal: the runner counted the sockets itself, in its own network namespace.
	CensusLocal = "local"
	// CensusAgent: a `sim watch` agent beside the app counted them (`sim run --watch`).
	CensusAgent = "agent"
)

// Census says where a timeline's socket columns came from and how many of its windows have
// none. Every census is placed on the runner's clock, in the window it was taken for.
type Census struct {
	// Source is CensusLocal or CensusAgent.
	Source string `json:"source"`
	// URL is the agent's URL with its credentials masked; empty for a local census.
	URL string `json:"url,omitempty"`
	// Method is how the sockets were counted: "netlink" or "proc" (the agent's, as it said).
	Method string `json:"method,omitempty"`
	// Port is the port counted: the agent's, which may differ from the target's behind a
	// published (NATed) port.
	Port uint16 `json:"port,omitempty"`
	// Windows is the number of timeline windows, Gaps those without a census
	// (Sample.SocketsMissing), and LastGap why the last gap happened.
	Windows int    `json:"windows"`
	Gaps    int    `json:"gaps"`
	LastGap string `json:"last_gap,omitempty"`
	// ClockOffsetMS estimates the agent's clock minus the runner's, from the census with the
	// shortest round trip (NTP's rule), within ClockOffsetErrorMS (half that round trip). Null
	// for a local census. It is reported, not applied: windows are on the runner's clock.
	ClockOffsetMS      *float64 `json:"clock_offset_ms,omitempty"`
	ClockOffsetErrorMS *float64 `json:"clock_offset_error_ms,omitempty"`
}

// String names the census source in a line: "agent http://10.0.0.2:8082 (netlink, port
// 8080)" or "local kernel (netlink, port 8080)".
func (c Census) String() string {
	where := "local kernel"
	if c.Source == CensusAgent {
		where = "agent " + c.URL
	}
	var detail []string
	if c.Method != "" {
		detail = append(detail, c.Method)
	}
	if c.Port != 0 {
		detail = append(detail, "port "+strconv.Itoa(int(c.Port)))
	}
	if len(detail) > 0 {
		where += " (" + strings.Join(detail, ", ") + ")"
	}
	return where
}

// Thresholds are the collapse-detection thresholds as stored in a record.
type Thresholds struct {
	// HangFraction: a window is collapsed when its 2xx rate is below this fraction of the
	// offered rate.
	HangFraction float64 `json:"hang_fraction"`
	// HangHoldS: a collapse must last at least this many seconds, to the end of the load.
	HangHoldS float64 `json:"hang_hold_s"`
	// MinOfferedRPS: windows offering less are not judged.
	MinOfferedRPS float64 `json:"min_offered_rps"`
	// SaturationFraction: a window is short of the offered rate when its 2xx rate is below
	// this fraction of it; a plateau of such windows lasting HangHoldS is a saturation. 0 in
	// records written before saturation was detected.
	SaturationFraction float64 `json:"saturation_fraction,omitempty"`
}
