package sem

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFIFOOrder(t *testing.T) {
	s := New(1)
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 5
	order := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := s.Acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			order <- i
			s.Release()
		}(i)
		// Let waiter i queue before i+1.
		waitFor(t, func() bool { return s.Waiting() == i+1 })
	}
	if s.TryAcquire() {
		t.Fatal("TryAcquire barged in ahead of waiters")
	}
	s.Release()
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("waiter %d served in position %d", got, want)
		}
		want++
	}
	if s.Held() != 0 || s.Waiting() != 0 {
		t.Fatalf("held %d waiting %d after all released", s.Held(), s.Waiting())
	}
}

func TestAcquireCancelLeavesLine(t *testing.T) {
	s := New(1)
	_ = s.Acquire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Acquire(ctx); err == nil {
		t.Fatal("Acquire on a full semaphore returned without a slot")
	}
	if s.Waiting() != 0 {
		t.Fatalf("cancelled waiter still in line: %d", s.Waiting())
	}
	s.Release()
	if s.Held() != 0 {
		t.Fatalf("held = %d, want 0", s.Held())
	}
}

func TestUnboundedQueue(t *testing.T) {
	s := New(2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 102; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Acquire(ctx) }()
	}
	waitFor(t, func() bool { return s.Held() == 2 && s.Waiting() == 100 })
	cancel()
	wg.Wait()
	if s.Waiting() != 0 {
		t.Fatalf("waiting = %d after cancel", s.Waiting())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
