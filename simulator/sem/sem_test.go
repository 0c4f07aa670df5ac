package sem

import (
	"context"
	"errors"
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

// A bounded line takes a free slot at once, lets callers wait up to its limit and refuses the
// next one without making it wait; the refused caller does not join the line.
func TestAcquireBoundedRefusesWhenLineFull(t *testing.T) {
	s := New(1)
	if err := s.AcquireBounded(context.Background(), 2); err != nil {
		t.Fatalf("free slot refused: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	got := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); got <- s.AcquireBounded(ctx, 2) }()
		waitFor(t, func() bool { return s.Waiting() == i+1 })
	}
	start := time.Now()
	if err := s.AcquireBounded(ctx, 2); !errors.Is(err, ErrFull) {
		t.Fatalf("third waiter: err = %v, want ErrFull", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusal took %v, want at once", d)
	}
	if s.Waiting() != 2 || s.Held() != 1 {
		t.Fatalf("after the refusal held %d waiting %d, want 1 and 2", s.Held(), s.Waiting())
	}
	// The two in line are served, in order, as slots free up.
	s.Release()
	if err := <-got; err != nil {
		t.Fatalf("first waiter: %v", err)
	}
	s.Release()
	if err := <-got; err != nil {
		t.Fatalf("second waiter: %v", err)
	}
	wg.Wait()
	s.Release()
	if s.Held() != 0 || s.Waiting() != 0 {
		t.Fatalf("held %d waiting %d after all released", s.Held(), s.Waiting())
	}
}

// A line of 0 lets nobody wait: a busy semaphore refuses at once, an idle one grants.
func TestAcquireBoundedZeroLine(t *testing.T) {
	s := New(1)
	if err := s.AcquireBounded(context.Background(), 0); err != nil {
		t.Fatalf("idle: %v", err)
	}
	if err := s.AcquireBounded(context.Background(), 0); !errors.Is(err, ErrFull) {
		t.Fatalf("busy: err = %v, want ErrFull", err)
	}
	s.Release()
	if err := s.AcquireBounded(context.Background(), 0); err != nil {
		t.Fatalf("freed: %v", err)
	}
	s.Release()
}

// A bounded waiter gives up with its context like any other and leaves the line, making room.
func TestAcquireBoundedCancelMakesRoom(t *testing.T) {
	s := New(1)
	_ = s.Acquire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.AcquireBounded(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if s.Waiting() != 0 {
		t.Fatalf("cancelled waiter still in line: %d", s.Waiting())
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.AcquireBounded(ctx2, 1) }()
	waitFor(t, func() bool { return s.Waiting() == 1 })
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancelled", err)
	}
	s.Release()
}

// TestAcquireLast: an AcquireLast caller is served only after every ordinary waiter, even one
// that came later, and does not barge in ahead of them.
func TestAcquireLast(t *testing.T) {
	s := New(1)
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.AcquireLast(context.Background()); err != nil {
			t.Error(err)
			return
		}
		order <- "last"
		s.Release()
	}()
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.last.Len() == 1 })
	go func() {
		defer wg.Done()
		if err := s.Acquire(context.Background()); err != nil {
			t.Error(err)
			return
		}
		order <- "ordinary"
		s.Release()
	}()
	waitFor(t, func() bool { return s.Waiting() == 1 })
	s.Release()
	wg.Wait()
	close(order)
	if first, second := <-order, <-order; first != "ordinary" || second != "last" {
		t.Fatalf("order %s, %s; want ordinary, last", first, second)
	}
	if s.Held() != 0 {
		t.Fatalf("held %d after all released", s.Held())
	}
}

// TestGrowShrink: a slot added by Grow goes to the longest waiter first; Shrink removes only a
// free slot.
func TestGrowShrink(t *testing.T) {
	s := New(1)
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		if s.Acquire(context.Background()) == nil {
			close(got)
		}
	}()
	for s.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	if s.Shrink() {
		t.Fatal("Shrink removed a held slot")
	}
	s.Grow(2)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not get the grown slot")
	}
	if s.Size() != 3 || s.Held() != 2 || s.Waiting() != 0 {
		t.Fatalf("size %d, held %d, waiting %d; want 3, 2, 0", s.Size(), s.Held(), s.Waiting())
	}
	if !s.Shrink() || s.Shrink() || s.Size() != 2 {
		t.Fatalf("Shrink: want one free slot removed, then none; size %d", s.Size())
	}
	s.Release()
	s.Release()
}
