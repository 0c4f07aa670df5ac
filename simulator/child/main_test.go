package child

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary act as a child instead of running the tests: its value names
// the behaviour (see helper).
const helperEnv = "SIM_CHILD_TEST_HELPER"

// helperLife bounds every helper process, so that none outlives a test run by much even if a
// test fails to stop it.
const helperLife = 30 * time.Second

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	goleak.VerifyTestMain(m)
}

// helper is the child's side of the tests. Modes:
//   - ready: announce app and admin, log a line on each stream, exit 0 on SIGTERM.
//   - stubborn: announce app, ignore SIGTERM.
//   - early: complain on stderr and exit 3 before announcing anything.
//   - silent: announce nothing.
//   - exits: announce app, exit 4 soon after.
//   - group: start a grandchild (mode sleeper) in its own process group, announce its pid as
//     "app PID", exit 0 on SIGTERM, leaving the grandchild behind.
//   - sleeper: ignore SIGTERM and sleep.
//   - owner: start a child (mode sleeper) with Start, announce its pid as "app PID", sleep.
func helper(mode string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	wait := func() int {
		select {
		case <-term:
			return 0
		case <-time.After(helperLife):
			return 1
		}
	}
	switch mode {
	case "ready":
		fmt.Println("app http://127.0.0.1:1")
		fmt.Println("admin http://127.0.0.1:2")
		fmt.Println("after ready")
		fmt.Fprintln(os.Stderr, "on stderr")
		return wait()
	case "stubborn", "sleeper":
		signal.Ignore(syscall.SIGTERM)
		if mode == "stubborn" {
			fmt.Println("app http://127.0.0.1:1")
		}
		time.Sleep(helperLife)
		return 1
	case "early":
		fmt.Fprintln(os.Stderr, "boom: address already in use")
		return 3
	case "silent":
		return wait()
	case "exits":
		fmt.Println("app http://127.0.0.1:1")
		time.Sleep(100 * time.Millisecond)
		return 4
	case "group":
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		gc := exec.Command(exe)
		gc.Env = append(os.Environ(), helperEnv+"=sleeper")
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Printf("app %d\n", gc.Process.Pid)
		return wait()
	case "owner":
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		p, err := Start(context.Background(), Spec{
			Name: "sleeper", Path: exe, Env: []string{helperEnv + "=stubborn"}, Ready: []string{"app"},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Printf("app %d\n", p.PID())
		time.Sleep(helperLife)
		return 1
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}
