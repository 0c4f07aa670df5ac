package connector

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// TestDynamicPool: a bio pool started with one worker (PHP-FPM's pm = dynamic) grows by the
// missing spare workers every SpawnInterval while none is idle, up to MaxThreads and no
// further; connections beyond it wait in the backlog. Once they end, it stops one idle worker a
// SpawnInterval down to MaxSpare.
func TestDynamicPool(t *testing.T) {
	cfg := testConfig()
	cfg.Mode, cfg.MaxThreads, cfg.MaxConnections = BIO, 3, 3
	cfg.StartWorkers, cfg.MinSpare, cfg.MaxSpare = 1, 1, 1
	release := make(chan struct{})
	c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	if s := c.Stats(); s.Workers != 1 {
		t.Fatalf("workers at the start %d, want 1", s.Workers)
	}
	// Five connections, each holding its worker: the pool grows one a second (MinSpare 1,
	// none idle) to 3 and stops there; 2 wait in the backlog.
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for range 5 {
		cn, err := net.Dial("tcp", c.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cn)
	}
	t0 := time.Now()
	waitFor(t, "the pool grown to max_threads", func() bool { return c.Stats().Workers == 3 && c.Stats().WorkersBusy == 3 })
	if took := time.Since(t0); took < SpawnInterval {
		t.Fatalf("grew from 1 to 3 workers in %v: want one per %v", took, SpawnInterval)
	}
	time.Sleep(2 * SpawnInterval)
	if s := c.Stats(); s.Workers != 3 {
		t.Fatalf("workers %d with every one busy, want max_threads 3", s.Workers)
	}
	// The connections end: with 3 workers and MaxSpare 1 it stops idle ones down to 1 idle
	// (the acceptor's: a worker waiting in accept() is idle).
	close(release)
	for _, cn := range conns {
		cn.Close()
	}
	conns = nil
	waitFor(t, "the pool shrunk to max_spare", func() bool { return c.Stats().Workers == 1 })
}
