// Package loadprofiles describes how load is offered during a run: a schema of stages (ramps and
// holds of a request rate), the vegeta attacker settings, how recovery is probed once the load
// stops and how a collapse is detected, plus optional overrides of the server under test.
//
// Profiles are YAML files or one of the built-in profiles embedded in the binary (Builtin). Load
// and Parse return a profile with its defaults filled in and validated; every mistake in a
// profile is an *invalid.Error naming the field by its YAML path ("stages[1].target"), the value
// and what is allowed, with the file (or built-in name) as Source. StagePacer turns the stages
// into a vegeta.Pacer.
//
// # Schema
//
// Durations use Go syntax ("250ms", "1m30s"); rates are requests/second and may be fractional.
//
//	name: quick              # optional; defaults to the file's base name
//	description: "..."       # one line
//	stages:                  # at least one; total <= 1h unless lifted (--max-duration, 24h at most)
//	  - duration: 10s        # > 0
//	    target: 40           # rate at the END of the stage, 0..5000 unless lifted (--max-rate, 20000 at most); required
//	    mode: ramp           # ramp (default) | hold
//	    from: 5              # ramp only: start rate (default: previous target, 0 for the first)
//	arrivals: uniform        # uniform (vegeta's even pacing, default) | poisson (same stages)
//	seed: 1                  # poisson: the same seed gives the same send times (default 1)
//	client:    {timeout: 2s, keepalive: true, max_workers: 0, connections: 10000}
//	recovery:  {duration: 10s, interval: 500ms, timeout: 1s, drain_max: 2m}   # interval >= 10ms; <= 100,000 probes; drain_max: probe on while the queue drains (0: off)
//	sample_interval: 250ms   # 10ms to 10s; at most 400,000 windows of load and recovery
//	detect:    {hang_fraction: 0.1, hang_hold: 3s}             # hang_hold <= 1h
//	thresholds: {p99: 500ms, errors: 1%, hang: forbidden}   # breach = exit 1; all optional
//	server:                  # every field optional; see Server
//	  max_threads: 16
//	  work_time: 200ms
//	  work_time_dist: fixed  # fixed | exponential (mean work_time) | lognormal (median work_time,
//	  work_time_p99: 1s      #   and this p99); work_time_seed: 1
//	  static: {server: nginx}
//
// Parsing is strict, because a profile that is read differently from how it was written runs a
// different experiment without saying so:
//
//   - a profile file must be a regular file of at most MaxFileSize (a FIFO or /dev/zero is
//     refused at once, not read);
//   - unknown keys are rejected, with the keys allowed at that place and the nearest one, and
//     so are keys that differ only in case ("target" and "Target"), which would set one field;
//   - NaN and infinite numbers are rejected wherever a number is read;
//   - values are not converted between types ("keepalive: yes", "target: '40'" are errors);
//   - a duration needs a unit: "duration: 10" is rejected (seconds? Go's nanoseconds?), only a
//     bare 0 is accepted;
//   - a key set to 0 is validated as written, not replaced by its default: "timeout: 0" is an
//     error rather than a silent 2s (vegeta would read 0 as "no timeout");
//   - every stage needs a target, and a hold stage takes no from.
package loadprofiles
