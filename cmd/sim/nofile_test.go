package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// capSysResource is CAP_SYS_RESOURCE's bit in /proc/PID/status's CapEff (linux/capability.h).
const capSysResource = 24

// A nofile above the hard limit sim was started with (a container's ulimits, a shell's ulimit
// -Hn) is the user's mistake: sim serve exits 2 naming the key, the value and the most it may
// set here, instead of running with fewer descriptors than asked for.
func TestServeNoFileAboveHardLimit(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("CapEff %q: %v", v, err)
			}
			if caps&(1<<capSysResource) != 0 {
				t.Skip("this process has CAP_SYS_RESOURCE: it may raise its hard fd limit, so no nofile is above what it may set")
			}
		}
	}
	// The shell lowers its limits, soft and hard, and execs sim, which inherits it.
	const hard = 512
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" serve --nofile 1024`, hard)
	code, stderr := runSh(t, script)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr: %s", code, stderr)
	}
	for _, want := range []string{"nofile: 1024 is not allowed", fmt.Sprintf("64 to %d here", hard), "ulimit -Hn"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, stderr)
		}
	}
	// At the limit it starts (and stops cleanly on SIGTERM, sent 5 s later: well after its start
	// on a busy machine): the check is not off by one.
	script = fmt.Sprintf(`ulimit -n %d && exec timeout --preserve-status -s TERM 5 "$0" serve --nofile %d`, hard, hard)
	if code, stderr = runSh(t, script); code != 0 {
		t.Fatalf("nofile equal to the hard limit: exit %d: %s", code, stderr)
	}
}

// runSh runs script with sh, the sim binary as $0, and returns its exit code and stderr.
func runSh(t *testing.T, script string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script, simBin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}
