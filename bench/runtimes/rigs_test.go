// Package runtimes_test runs sim against the real runtimes of bench/runtimes (issue 17, item 6):
// for each rig, `sim run --target` on the built-in quick profile must give the verdict the
// rig's own measurements give. The rig's own verdict comes from after sim's probes: three
// requests to /page with curl (5 s each) — none answered means the rig is hung, any answered
// means it is not — and its census of the sockets (a pile of CLOSE_WAIT left on its port).
//
// Each rig takes about a minute and needs its Debian packages; the tests are long-tier:
//
//	SIM_LONG=1 go test -run TestRigVerdicts -v -timeout 30m ./bench/runtimes/
package runtimes_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
)

// rigs: each rig's directory and the Debian packages its self variant needs.
var rigs = []struct {
	name string
	pkgs []string
	bins []string // programs besides the packages' (javac for the servlet)
}{
	{"gunicorn", []string{"gunicorn", "python3-flask", "python3-requests"}, nil},
	{"php-fpm", []string{"php8.2-fpm", "php8.2-curl", "nginx"}, nil},
	{"puma", []string{"puma"}, nil},
	{"jetty", []string{"jetty9"}, []string{"javac"}},
}

// row is the line lib.sh appends to rows.jsonl for each run.
type row struct {
	Rig         string  `json:"rig"`
	PageURL     string  `json:"page_url"`
	Ports       string  `json:"ports"`
	Verdict     string  `json:"verdict"`
	Recovered   bool    `json:"recovered"`
	Requests    int     `json:"requests"`
	OK          int     `json:"ok"`
	PeakCW      int     `json:"peak_close_wait"`
	OnsetRate   float64 `json:"onset_rate_rps"`
	OwnAnswered string  `json:"own_answered_after"`
	Final       string  `json:"final_census"`
}

func installed(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return err == nil && strings.Contains(string(out), "install ok installed")
}

func TestRigVerdicts(t *testing.T) {
	testtier.Long(t)
	// The scripts' own tools, by the Debian package that has each.
	for tool, pkg := range map[string]string{"bash": "bash", "curl": "curl", "jq": "jq", "ss": "iproute2", "setsid": "util-linux", "dpkg-query": "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := "the rigs need " + tool + " (Debian package " + pkg + ")"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	tmp := t.TempDir()
	sim := filepath.Join(tmp, "sim")
	build := exec.Command("go", "build", "-o", sim, "./cmd/sim")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sim: %v\n%s", err, out)
	}
	for _, rig := range rigs {
		t.Run(rig.name, func(t *testing.T) {
			var missing []string
			for _, p := range rig.pkgs {
				if !installed(p) {
					missing = append(missing, p)
				}
			}
			for _, b := range rig.bins {
				if _, err := exec.LookPath(b); err != nil {
					missing = append(missing, "default-jdk-headless (for "+b+")")
				}
			}
			if len(missing) > 0 {
				msg := "missing Debian packages: " + strings.Join(missing, " ") + " (bash bench/runtimes/" + rig.name + "/run.sh install)"
				if os.Getenv("CI") == "true" {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			r := runQuick(t, sim, rig.name)
			t.Logf("%s: sim verdict %s (recovered %v), onset %.1f rps, peak CLOSE_WAIT %d, %d/%d OK; rig's own check after the probes: %s pages answered, census %s",
				rig.name, r.Verdict, r.Recovered, r.OnsetRate, r.PeakCW, r.OK, r.Requests, r.OwnAnswered, r.Final)
			rigHung := r.OwnAnswered == "0/3"
			simHung := r.Verdict == "hang"
			if simHung != rigHung {
				t.Errorf("sim says %q (recovered %v) but the rig answered %s of its own /page requests after the probes", r.Verdict, r.Recovered, r.OwnAnswered)
			}
			if rigHung && r.Recovered {
				t.Errorf("sim says recovered, the rig answered none of its own requests after the probes")
			}
			// Every process of the rig is stopped: nothing listens on its ports any more.
			for _, p := range strings.Fields(r.Ports) {
				out, _ := exec.Command("ss", "-Hltn", "( sport = :"+p+" )").Output()
				if len(bytes.TrimSpace(out)) > 0 {
					t.Errorf("port %s still listened on after the rig stopped:\n%s", p, out)
				}
			}
		})
	}
}

// runQuick runs `run.sh quick` for rig, bounded in time; on the deadline the script's process
// group gets SIGTERM (sim stops, then the script's trap stops the rig) and SIGKILL 30 s later.
func runQuick(t *testing.T, sim, rig string) row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(rig, "run.sh"), "quick")
	cmd.Env = append(os.Environ(), "OUT="+out, "SIM="+sim)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		}
		t.Fatalf("%s/run.sh quick did not finish within 6 min (%v):\n%s", rig, err, stderr.Bytes())
	}
	if err != nil {
		t.Fatalf("%s/run.sh quick: %v\n%s", rig, err, stderr.Bytes())
	}
	f, err := os.Open(filepath.Join(out, "rows.jsonl"))
	if err != nil {
		t.Fatalf("rows.jsonl: %v\n%s", err, stderr.Bytes())
	}
	defer f.Close()
	var r row
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("rows.jsonl: %v: %s", err, sc.Bytes())
		}
		n++
	}
	if n != 1 || r.Rig != rig || r.Verdict == "" || r.Requests == 0 {
		t.Fatalf("rows.jsonl: %d rows, last %+v; want one run of %s with a verdict\n%s", n, r, rig, stderr.Bytes())
	}
	return r
}
