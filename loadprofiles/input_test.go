package loadprofiles

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// refusedWithin calls load and fails unless it returns an *invalid.Error within limit, whose
// message holds every one of want.
func refusedWithin(t *testing.T, limit time.Duration, load func() error, want ...string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- load() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		t.Fatalf("still reading after %s: a file that is not a regular one must be refused at once", limit)
	}
	if !invalid.Is(err) {
		t.Fatalf("error %v (%T), want an *invalid.Error (exit 2)", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %q", err, w)
		}
	}
}

// A profile that is not a regular file, or is too big, is refused at once with its path; a FIFO
// used to block Load forever and /dev/zero to grow memory until the process died.
func TestLoadRefusesWhatIsNotAProfileFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock.yaml")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	loop := filepath.Join(dir, "loop.yaml")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(okStages+"# "+strings.Repeat("x", MaxFileSize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	linkToFifo := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(fifo, linkToFifo); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"FIFO", fifo, []string{fifo, "named pipe"}},
		{"symlink to a FIFO", linkToFifo, []string{linkToFifo, "named pipe"}},
		{"character device", "/dev/zero", []string{"/dev/zero", "device"}},
		{"unix socket", sock, []string{sock, "socket"}},
		{"symlink loop", loop, []string{loop, "symbolic links"}},
		{"over the size cap", big, []string{big, fmt.Sprint(MaxFileSize + len(okStages) + 3), fmt.Sprint(MaxFileSize)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refusedWithin(t, 2*time.Second, func() error { _, err := Load(tt.path); return err }, tt.want...)
		})
	}
}

// An unreadable profile is the user's input that cannot be read: exit 2, not 3. Root reads
// anything, so this needs an unprivileged user.
func TestLoadUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads a file whatever its mode")
	}
	path := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(path, []byte(okStages), 0o000); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, 2*time.Second, func() error { _, err := Load(path); return err }, path, "permission denied")
}

// Keys that differ only in case used to be merged, the last one winning: "target: 5, Target:
// 4999" ran at 4,999 rps. Both keys must be named, with where they are.
func TestParseRefusesKeysThatDifferInCase(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"in a stage", "stages: [{duration: 2s, target: 5, Target: 4999}]", []string{"stages[0]", `"target"`, `"Target"`}},
		{"at the top level", okStages + "Stages: [{duration: 2s, target: 4999}]", []string{`"stages"`, `"Stages"`}},
		{"in server", okStages + "server:\n  max_threads: 4\n  MAX_THREADS: 20000\n", []string{"server", `"max_threads"`, `"MAX_THREADS"`, "line 3", "line 4"}},
		{"in server.static", okStages + "server: {static: {server: nginx, Server: embedded}}", []string{"server.static", `"server"`, `"Server"`}},
		{"the same key twice", "stages: [{duration: 2s, target: 5, target: 4999}]", []string{"stages[0]", `"target"`, "twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("case.yaml", []byte(tt.yaml))
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want an *invalid.Error", err, err)
			}
			if ie.Source != "case.yaml" {
				t.Errorf("Source = %q, want the file", ie.Source)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %s", err, w)
				}
			}
		})
	}
}

// NaN compares false with every bound, so "errors: nan%" used to pass the range check and give a
// threshold that can never breach. NaN and the infinities are refused wherever a number is read.
func TestParseRefusesNaNAndInfinity(t *testing.T) {
	tests := []struct{ yaml, field string }{
		{okStages + `thresholds: {errors: "nan%"}`, "thresholds.errors"},
		{okStages + `thresholds: {errors: NaN}`, "thresholds.errors"},
		{okStages + `thresholds: {errors: .nan}`, "thresholds.errors"},
		{okStages + `thresholds: {errors: "-inf%"}`, "thresholds.errors"},
		{okStages + `thresholds: {errors: -.inf}`, "thresholds.errors"},
		{"stages: [{duration: 10s, target: .nan}]", "stages[0].target"},
		{"stages: [{duration: 10s, target: .inf}]", "stages[0].target"},
		{"stages: [{duration: 10s, target: -.inf}]", "stages[0].target"},
		{"stages: [{duration: 10s, target: 4, from: .nan}]", "stages[0].from"},
		{okStages + "detect: {hang_fraction: .nan}", "detect.hang_fraction"},
		{okStages + "detect: {hang_fraction: -.inf}", "detect.hang_fraction"},
		{okStages + "seed: .nan", "seed"},
		{okStages + "server: {max_threads: .inf}", "server.max_threads"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			_, err := Parse("nan.yaml", []byte(tt.yaml))
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want an *invalid.Error", err, err)
			}
			if ie.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", ie.Field, tt.field, err)
			}
		})
	}
}

// Durations with no floor or cap let a slip exhaust the machine: recovery.interval: 1ns is a
// goroutine and a connection per nanosecond of recovery.
func TestParseFloorsAndCaps(t *testing.T) {
	day := "stages: [{duration: 12h, target: 1}, {duration: 12h, target: 1}]\n"
	tests := []struct {
		name  string
		yaml  string
		field string // "" = accepted
		want  []string
	}{
		{"recovery interval 1ns", okStages + "recovery: {interval: 1ns}", "recovery.interval", []string{"1ns", ">= " + MinRecoveryInterval.String()}},
		{"recovery interval at the floor", okStages + "recovery: {duration: 10s, interval: 10ms, timeout: 1s}", "", nil},
		{"too many probes", okStages + "recovery: {duration: 1h, interval: 10ms}", "recovery.interval",
			[]string{"10ms", "360001 probes", fmt.Sprint(MaxRecoveryProbes)}},
		{"recovery over 24h", okStages + "recovery: {duration: 1000h}", "recovery.duration", []string{"1000h0m0s", "<= 24h0m0s"}},
		{"too many probes in flight", okStages + "recovery: {duration: 60s, interval: 10ms, timeout: 5m}", "recovery.timeout",
			[]string{"5m0s", fmt.Sprint(MaxProbesInFlight)}},
		{"sample interval 1h", okStages + "sample_interval: 1h", "sample_interval", []string{"1h0m0s", "<= " + MaxSampleInterval.String()}},
		{"sample interval at the cap", okStages + "sample_interval: 10s", "", nil},
		{"too many windows", day + "sample_interval: 10ms", "sample_interval",
			[]string{"10ms", "8.64e+06 windows", fmt.Sprint(MaxWindows)}},
		{"a day at the default window", day, "", nil},
		{"hang_hold 1000000h", okStages + "detect: {hang_hold: 1000000h}", "detect.hang_hold", []string{"1000000h0m0s", "<= " + MaxHangHold.String()}},
		{"hang_hold at the cap", "stages: [{duration: 2h, target: 1}]\ndetect: {hang_hold: 1h}", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("caps.yaml", []byte(tt.yaml))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want an *invalid.Error", err, err)
			}
			if ie.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", ie.Field, tt.field, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

// manyKeys is a profile whose server mapping has n distinct keys, none of them known.
func manyKeys(n int) []byte {
	var b strings.Builder
	b.WriteString(okStages + "server:\n")
	for i := range n {
		fmt.Fprintf(&b, "  k%d: 1\n", i)
	}
	return []byte(b.String())
}

// manyStages is a valid profile of n one-second stages.
func manyStages(n int) []byte {
	var b strings.Builder
	b.WriteString("stages:\n")
	for range n {
		b.WriteString("- {duration: 1s, target: 1}\n")
	}
	return []byte(b.String())
}

// fill writes head, then line(0), line(1), ... and tail, as many lines as keep the profile within
// the size cap Load accepts.
func fill(head string, line func(i int) string, tail string) []byte {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; ; i++ {
		l := line(i)
		if b.Len()+len(l)+len(tail) > MaxFileSize {
			break
		}
		b.WriteString(l)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

func same(s string) func(int) string { return func(int) string { return s } }

// Parse time grew with the square of the number of keys (25k keys 11.5 s, 100k 139 s), with
// SIGTERM ignored meanwhile. At the size cap, whatever it holds, a profile is refused or parsed
// in well under a second on an idle machine; 10 s leaves room for a busy one and -race.
func TestParseAtTheSizeCap(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"unknown keys in one mapping", fill(okStages+"server:\n", func(i int) string { return fmt.Sprintf("  k%d: 1\n", i) }, "")},
		{"unknown keys at the top level", fill(okStages, func(i int) string { return fmt.Sprintf("k%d: 1\n", i) }, "")},
		{"keys in a flow mapping", fill(okStages+"server: {", func(i int) string { return fmt.Sprintf("%d: 1, ", i) }, "}\n")},
		{"stages", fill("stages:\n", same("- {duration: 1s, target: 1}\n"), "")},
		{"a long list of numbers", fill(okStages+"seed: [", same("1, "), "1]\n")},
		{"aliases", fill(okStages+"x: &a [1, 2, 3, 4, 5, 6, 7, 8]\ny: [", same("*a, "), "*a]\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.data) > MaxFileSize || len(tt.data) < MaxFileSize-100 {
				t.Fatalf("profile of %d bytes, want just under %d", len(tt.data), MaxFileSize)
			}
			path := filepath.Join(t.TempDir(), "big.yaml")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := Load(path)
			took := time.Since(start)
			t.Logf("%d bytes: %s (%.200v)", len(tt.data), took, err)
			if err != nil && !invalid.Is(err) {
				t.Errorf("error %v (%T), want an *invalid.Error", err, err)
			}
			// The message quotes what was written, not half a megabyte of it.
			if err != nil && len(err.Error()) > 2000 {
				t.Errorf("message of %d bytes: %.300s...", len(err.Error()), err)
			}
			if took > 10*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

// BenchmarkParseKeys parses profiles with N and 4N keys in one mapping (refused: none is known)
// and with N and 4N stages (accepted). Linear parsing takes about 4 times as long for 4N; the
// quadratic duplicate-key check of the YAML decoder took 16 times as long.
func BenchmarkParseKeys(b *testing.B) {
	const n = 5000
	for _, c := range []struct {
		name string
		data []byte
	}{
		{fmt.Sprintf("keys=%d", n), manyKeys(n)},
		{fmt.Sprintf("keys=%d", 4*n), manyKeys(4 * n)},
		{fmt.Sprintf("stages=%d", n/5), manyStages(n / 5)},
		{fmt.Sprintf("stages=%d", 4*n/5), manyStages(4 * n / 5)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				_, _ = Parse("bench.yaml", c.data)
			}
		})
	}
}
