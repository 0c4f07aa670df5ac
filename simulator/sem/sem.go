// Package sem is a counting semaphore whose waiters are served strictly first come, first served,
// with no limit on how many wait: the shape of Tomcat's worker queue (a ThreadPoolExecutor in
// front of a LinkedBlockingQueue) and of Apache HttpClient's connection lease queue.
//
// Fairness matters for the deadlock: a self-call that arrives while every worker is busy queues
// behind the outer requests that arrived before it, and those can only finish through their own
// self-calls. A semaphore that let late arrivals barge in would hide the cycle.
package sem

import (
	"container/list"
	"context"
	"errors"
	"sync"
)

// FIFO is a fair counting semaphore. The zero value is not usable; use New.
type FIFO struct {
	mu      sync.Mutex
	size    int
	held    int
	waiters list.List // of chan struct{}; closed when the slot is handed over
	// last are the AcquireLast callers: served only when nobody waits in waiters.
	last list.List
}

// New returns a semaphore with size slots.
func New(size int) *FIFO {
	return &FIFO{size: size}
}

// ErrFull is AcquireBounded's answer when the line is already as long as it may be.
var ErrFull = errors.New("sem: line full")

// Acquire takes a slot, waiting in line for as long as it takes. It gives up only when ctx is
// done; callers that model Tomcat pass a context that ends with the server, not with the client.
func (s *FIFO) Acquire(ctx context.Context) error {
	return s.acquire(ctx, -1)
}

// AcquireBounded is Acquire with a line of at most maxWaiting callers: a caller that finds no
// free slot and maxWaiting callers already in line is refused at once with ErrFull, without
// joining the line — Tomcat's Executor with maxQueueSize, whose TaskQueue refuses a task when
// it is full. A caller admitted to the line waits as in Acquire. maxWaiting 0 lets nobody wait.
func (s *FIFO) AcquireBounded(ctx context.Context, maxWaiting int) error {
	return s.acquire(ctx, max(maxWaiting, 0))
}

// acquire takes a slot; a line already maxWaiting long refuses with ErrFull (-1: no limit).
func (s *FIFO) acquire(ctx context.Context, maxWaiting int) error {
	s.mu.Lock()
	if s.held < s.size && s.waiters.Len() == 0 {
		s.held++
		s.mu.Unlock()
		return nil
	}
	if maxWaiting >= 0 && s.waiters.Len() >= maxWaiting {
		s.mu.Unlock()
		return ErrFull
	}
	ready := make(chan struct{})
	elem := s.waiters.PushBack(ready)
	s.mu.Unlock()
	return s.wait(ctx, &s.waiters, elem, ready)
}

// wait waits, unlocked, for ready (a slot handed over by Release) or the end of ctx; giving
// up, it leaves line (where elem is) or, handed a slot meanwhile, passes it on.
func (s *FIFO) wait(ctx context.Context, line *list.List, elem *list.Element, ready chan struct{}) error {
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		select {
		case <-ready:
			// Handed a slot while giving up: pass it on rather than leak it.
			s.mu.Unlock()
			s.Release()
		default:
			line.Remove(elem)
			s.mu.Unlock()
		}
		return ctx.Err()
	}
}

// AcquireLast takes a slot only when one is free and no Acquire caller waits: its callers
// wait in a line of their own, served first come first served, but only after every ordinary
// waiter. It is Puma's acceptor (ThreadPool#wait_until_not_full): it accepts a connection
// only while the pool's busy threads and queued requests are fewer than its threads, so a
// request already queued always goes before a new connection. Only ctx ends the wait.
func (s *FIFO) AcquireLast(ctx context.Context) error {
	s.mu.Lock()
	if s.held < s.size && s.waiters.Len() == 0 && s.last.Len() == 0 {
		s.held++
		s.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	elem := s.last.PushBack(ready)
	s.mu.Unlock()
	return s.wait(ctx, &s.last, elem, ready)
}

// TryAcquire takes a slot only if one is free and nobody is waiting.
func (s *FIFO) TryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held < s.size && s.waiters.Len() == 0 {
		s.held++
		return true
	}
	return false
}

// Release gives a slot back, handing it straight to the longest waiter if there is one.
func (s *FIFO) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if front := s.waiters.Front(); front != nil {
		s.waiters.Remove(front)
		close(front.Value.(chan struct{}))
		return
	}
	if front := s.last.Front(); front != nil {
		s.last.Remove(front)
		close(front.Value.(chan struct{}))
		return
	}
	if s.held == 0 {
		panic("sem: Release without Acquire")
	}
	s.held--
}

// Held is the number of slots taken.
func (s *FIFO) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// Waiting is the number of callers in line (AcquireLast's not counted).
func (s *FIFO) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiters.Len()
}

// Size is the number of slots.
func (s *FIFO) Size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Grow adds n slots, each handed to the longest waiter if there is one (a pool that starts a
// worker: PHP-FPM's pm = dynamic spawning a child).
func (s *FIFO) Grow(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; n > 0; n-- {
		s.size++
		s.held++
		if front := s.waiters.Front(); front != nil {
			s.waiters.Remove(front)
			close(front.Value.(chan struct{}))
			continue
		}
		if front := s.last.Front(); front != nil {
			s.last.Remove(front)
			close(front.Value.(chan struct{}))
			continue
		}
		s.held--
	}
}

// Shrink removes a free slot (a pool that stops an idle worker); false when none is free.
func (s *FIFO) Shrink() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held >= s.size {
		return false
	}
	s.size--
	return true
}
