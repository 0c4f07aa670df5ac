package loadprofiles_test

import (
	"fmt"

	"github.com/simdev/sim/loadprofiles"
)

func ExampleParse() {
	p, err := loadprofiles.Parse("warmup.yaml", []byte(`
description: ramp to 100 rps, then hold
stages:
  - {duration: 10s, target: 100}
  - {duration: 5s, target: 100, mode: hold}
server:
  max_threads: 16
  work_time: 200ms
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Name, p.Duration(), p.PeakRate(), p.RateAt(5e9), p.Client.Timeout)
	fmt.Println(p.Server.Flags())
	// Output:
	// warmup 15s 100 50 2s
	// [--max-threads=16 --work-time=200ms]
}

func ExampleParse_error() {
	_, err := loadprofiles.Parse("warmup.yaml", []byte(`
stages:
  - {duration: 10s, tagret: 100}
`))
	fmt.Println(err)
	// Output:
	// warmup.yaml: stages[0].tagret: "tagret" is not allowed (allowed: a key of stages[0]: duration, target, mode, from (did you mean target?))
}

func ExampleLoad() {
	for _, name := range loadprofiles.Builtin() {
		p, err := loadprofiles.Load(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-5s %4s peak %3g rps  %s\n", p.Name, p.Duration(), p.PeakRate(), p.Server.Flags())
	}
	// Output:
	// incident 1m10s peak 220 rps  [--max-threads=200 --max-connections=10000 --accept-count=100 --work-time=1s --max-per-route=2 --max-total=20 --nofile=4096 --static-server=nginx]
	// incident-quick  19s peak  96 rps  [--max-threads=16 --max-connections=10000 --accept-count=100 --work-time=200ms --max-per-route=2 --max-total=20 --nofile=256 --static-server=nginx]
	// quick  20s peak 120 rps  [--max-threads=16 --work-time=200ms]
	// ramp  1m0s peak 120 rps  [--max-threads=16 --work-time=200ms]
	// spike  35s peak 160 rps  [--max-threads=16 --work-time=200ms]
	// steps  48s peak 120 rps  [--max-threads=16 --work-time=200ms]
}
