package connector

import (
	"bufio"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestWatchdogKillsASilentWorker: a request that holds its worker past WorkerTimeout is killed
// as gunicorn's arbiter kills a silent sync worker: its client's connection closes with no
// answer, the handler's kill context ends and its late writes go nowhere, the worker is back
// only WorkerBoot after the kill (the next connection waits until then), and it is given back
// once: afterwards the pool holds exactly MaxThreads requests again.
func TestWatchdogKillsASilentWorker(t *testing.T) {
	const timeout, boot = 300 * time.Millisecond, 400 * time.Millisecond
	for _, mode := range []string{BIO, NIO} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig()
			cfg.Mode, cfg.MaxThreads, cfg.CloseAfterResponse = mode, 1, true
			cfg.WorkerTimeout, cfg.WorkerBoot = timeout, boot
			entered := make(chan struct{}, 4)
			lateWrite := make(chan error, 1)
			hold := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/stuck":
					entered <- struct{}{}
					select {
					case <-KillContext(r.Context()).Done():
					case <-time.After(waitTimeout):
					}
					if !Killed(r.Context()) {
						lateWrite <- errors.New("the handler's kill context ended but Killed is false")
						return
					}
					_, err := w.Write([]byte("late"))
					lateWrite <- err
				case "/hold":
					entered <- struct{}{}
					<-hold
				}
			})
			c := serve(t, cfg, h)
			addr := c.Addr().String()

			start := time.Now()
			stuck := send(t, addr, "/stuck")
			<-entered
			next := send(t, addr, "/ok")
			_ = stuck.SetReadDeadline(time.Now().Add(waitTimeout))
			if resp, err := http.ReadResponse(bufio.NewReader(stuck), nil); err == nil {
				resp.Body.Close()
				t.Fatalf("killed request answered %d, want its connection closed unanswered", resp.StatusCode)
			}
			killedAt := time.Since(start)
			if killedAt < timeout*3/4 {
				t.Errorf("connection closed %v after the request, want about worker_timeout %v", killedAt, timeout)
			}
			if err := <-lateWrite; !errors.Is(err, errKilled) {
				t.Errorf("write after the kill = %v, want %v", err, errKilled)
			}
			if st := readStatus(t, next); st != http.StatusOK {
				t.Fatalf("next request: status %d", st)
			}
			if got := time.Since(start); got < timeout+boot*3/4 {
				t.Errorf("next request answered %v after the first, want after worker_timeout + worker_boot (%v): the replacement was not booting", got, timeout+boot)
			}
			if k := c.Stats().Killed; k != 1 {
				t.Errorf("Killed = %d, want 1", k)
			}
			if mode == NIO {
				// (In bio the acceptor holds the free worker while it waits in accept().)
				waitFor(t, "every worker free", func() bool { return c.Stats().WorkersBusy == 0 })
			}

			// The worker was given back once: two held requests get one worker between them.
			a := send(t, addr, "/hold")
			<-entered
			b := send(t, addr, "/hold")
			time.Sleep(100 * time.Millisecond) // long enough for a second worker, if there were one, to take b
			select {
			case <-entered:
				t.Fatal("two requests hold workers at once with max_threads 1: the killed worker was given back twice")
			default:
			}
			if busy := c.Stats().WorkersBusy; busy != 1 {
				t.Errorf("workers busy %d, want 1", busy)
			}
			close(hold)
			if st := readStatus(t, a); st != http.StatusOK {
				t.Errorf("held request: status %d", st)
			}
			if st := readStatus(t, b); st != http.StatusOK {
				t.Errorf("second held request: status %d", st)
			}
			if k := c.Stats().Killed; k != 1 {
				t.Errorf("Killed = %d after requests that ended in time, want still 1", k)
			}
		})
	}
}
