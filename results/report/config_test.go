package report

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/simdev/sim/results"
)

// TestConfigDurationsByKind: the config table shows every duration as a duration because its
// key's kind says so (serverconf.Keys for the server, the profile's types for the load
// profile), including the ones a hand-kept list had missed: work_time_p99, drain_max and the
// thresholds' p99 were shown in nanoseconds.
func TestConfigDurationsByKind(t *testing.T) {
	dir := t.TempDir()
	const cfg = `{"server":{"max_threads":16,"work_time":200000000,"work_time_p99":1500000000,"socket_timeout":0,"static":{"server":"embedded"}},
"load_profile":{"name":"p","stages":[{"duration":20000000000,"target":120,"mode":"ramp"}],"recovery":{"duration":8000000000,"drain_max":60000000000},
"thresholds":{"p99":250000000},"server":{"work_time_p99":900000000,"max_threads":16}}}`
	if err := os.WriteFile(filepath.Join(dir, results.ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := readConfig(dir)
	got := map[string]string{}
	for _, r := range rc.view.Server {
		got["server "+r.Key] = r.Value
	}
	for _, r := range rc.view.Profile {
		got["profile "+r.Key] = r.Value
	}
	for key, want := range map[string]string{
		"server work_time": "200ms", "server work_time_p99": "1.5s", "server socket_timeout": "0s",
		"server max_threads": "16", "server static.server": "embedded",
		"profile stages":   "ramp 0 → 120 rps over 20s",
		"profile recovery": "duration 8s, drain_max 1m0s", "profile thresholds": "p99 250ms",
		"profile server": "work_time_p99 900ms, max_threads 16",
	} {
		if got[key] != want {
			t.Errorf("%s: %q, want %q", key, got[key], want)
		}
	}
}
