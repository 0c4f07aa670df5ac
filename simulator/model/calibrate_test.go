package model

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/simulator/app"
	sockconn "github.com/simdev/sim/simulator/connector"
	"github.com/simdev/sim/simulator/selfcall"
	"github.com/simdev/sim/simulator/static"
)

// The benchmarks below measure on real loopback sockets, with sim's own connector, self-call
// client, static handler and app, the figures the model takes as constants (calibration.go):
//
//	go test -run '^$' -bench 'Loopback' -benchtime 2000x ./simulator/model/
//
// They are benchmarks, not tests: the figures depend on the machine and on what else runs.

// BenchmarkLoopbackSelfCall times a self-call as the app makes it in the self topology: the
// selfcall client (HttpClient-like pool, keep-alive) GETs the static page from a connector
// (nio, a bounded worker pool) serving static.Handler on loopback. It reports the round trip
// (roundtrip_us) and the part of it during which the inner request holds a worker
// (service_us): what StaticServiceTime and SelfCallOverhead are taken from.
func BenchmarkLoopbackSelfCall(b *testing.B) {
	var mu sync.Mutex
	var held time.Duration
	var served int
	timed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		static.Handler().ServeHTTP(w, r)
		d := time.Since(start)
		mu.Lock()
		held += d
		served++
		mu.Unlock()
	})
	conn, err := sockconn.New("127.0.0.1:0", sockconn.Config{
		Mode: sockconn.NIO, MaxThreads: 16, MaxConnections: 100, AcceptCount: 100,
		ConnectionTimeout: 20 * time.Second, KeepAliveTimeout: 20 * time.Second,
	}, timed)
	if err != nil {
		b.Fatal(err)
	}
	served0 := make(chan error, 1)
	go func() { served0 <- conn.Serve() }()
	defer func() {
		conn.Close()
		<-served0
	}()
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := selfcall.New(life, selfcall.Config{MaxPerRoute: app.DefaultMaxPerRoute, MaxTotal: app.DefaultMaxTotal})
	defer client.Close()
	url := "http://" + conn.Addr().String() + static.PagePath
	// One call opens the pooled connection, as the first page of a run does.
	if _, err := client.Get(url); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	held, served = 0, 0
	mu.Unlock()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := client.Get(url); err != nil {
			b.Fatal(err)
		}
	}
	total := time.Since(start)
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "roundtrip_us")
	b.ReportMetric(float64(held.Nanoseconds())/1e3/float64(served), "service_us")
}

// BenchmarkLoopbackPage times GET /page of the real app (topology self, 16 workers) from a
// keep-alive client, with work_time 0 and 20ms, and reports what a page costs beyond its work
// time and its self-call (overhead_us: the client's request and the response, routing,
// rendering, and the lateness of the work-time timer): what PageOverhead is taken from. The
// inproc case is the same page reading its fragment in process: its overhead_us is PageOverhead
// plus InProcessReadTime in the model.
func BenchmarkLoopbackPage(b *testing.B) {
	for _, c := range []struct {
		name, topology string
		work           time.Duration
	}{{"work=0s", app.Self, 0}, {"work=20ms", app.Self, 20 * time.Millisecond}, {"inproc,work=20ms", topology.InProc, 20 * time.Millisecond}} {
		work := c.work
		b.Run(c.name, func(b *testing.B) {
			cfg := app.Defaults()
			cfg.Topology = c.topology
			cfg.MaxThreads = 16
			cfg.WorkTime = work
			cfg.NoFile = 0
			a, err := app.Start(context.Background(), cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 4}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}
			get := func() {
				resp, err := hc.Get(a.URL() + "/page")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			get()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				get()
			}
			total := time.Since(start)
			b.StopTimer()
			st := a.Stats()
			perPage := float64(total.Microseconds()) / float64(b.N)
			b.ReportMetric(perPage, "page_us")
			b.ReportMetric(st.SelfcallMeanMS*1000, "selfcall_us")
			b.ReportMetric(perPage-float64(work.Microseconds())-st.SelfcallMeanMS*1000, "overhead_us")
		})
	}
}

// BenchmarkInProcessRead times what the inproc topology's page does instead of a self-call
// (simulator/app's fragment and the cut of its section): what InProcessReadTime is taken from.
func BenchmarkInProcessRead(b *testing.B) {
	n := 0
	for b.Loop() {
		fragment := static.Page()
		if i := bytes.Index(fragment, []byte("<section")); i >= 0 {
			if j := bytes.LastIndex(fragment, []byte("</section>")); j > i {
				fragment = fragment[i : j+len("</section>")]
			}
		}
		n += len(fragment)
	}
	if n == 0 {
		b.Fatal("the static page has no content")
	}
}
