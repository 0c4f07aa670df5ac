package model

import "testing"

// TestSemaphoreFIFO: permits go to waiters in arrival order, a newcomer never takes a permit
// before a waiter (no barging, as simulator/sem), a waiter that left is skipped, and a permit
// released with nobody waiting is freed.
func TestSemaphoreFIFO(t *testing.T) {
	s := semaphore{size: 2}
	if !s.tryAcquire() || !s.tryAcquire() {
		t.Fatal("two permits of two not taken")
	}
	if s.tryAcquire() {
		t.Fatal("a third permit taken of two")
	}
	gone := map[int32]bool{}
	for id := range int32(4) {
		s.enqueue(ref{id, 1})
	}
	s.leave()
	gone[1] = true // waiter 1 gives up
	valid := func(r ref) bool { return !gone[r.id] }
	if s.waiting != 3 {
		t.Fatalf("waiting %d, want 3", s.waiting)
	}
	var order []int32
	for range 3 {
		r, ok := s.release(valid)
		if !ok {
			t.Fatalf("no waiter handed the permit; order so far %v", order)
		}
		order = append(order, r.id)
		if s.tryAcquire() && s.waiting > 0 {
			t.Fatal("a newcomer took a permit while others wait")
		}
	}
	if want := []int32{0, 2, 3}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("permits handed to %v, want %v (1 left)", order, want)
	}
	if s.held != 2 || s.waiting != 0 {
		t.Fatalf("held %d waiting %d after hand-overs, want 2 and 0", s.held, s.waiting)
	}
	if _, ok := s.release(valid); ok || s.held != 1 {
		t.Fatalf("a release with nobody waiting: held %d, want 1", s.held)
	}
	if !s.tryAcquire() {
		t.Fatal("a freed permit is not free")
	}
}

// TestSemaphoreClone: a clone's queue is its own: a release on one does not move the other.
func TestSemaphoreClone(t *testing.T) {
	s := semaphore{size: 1}
	s.take()
	s.enqueue(ref{7, 1})
	s.enqueue(ref{8, 1})
	c := s
	var a cloner
	c.clone(&a)
	all := func(ref) bool { return true }
	if r, _ := c.release(all); r.id != 7 {
		t.Fatalf("clone handed to %d, want 7", r.id)
	}
	c.enqueue(ref{9, 1})
	if r, _ := s.release(all); r.id != 7 || s.waiting != 1 {
		t.Fatalf("original handed to %d with %d waiting after its clone moved, want 7 and 1", r.id, s.waiting)
	}
	if r, _ := s.release(all); r.id != 8 {
		t.Fatalf("original's second waiter %d, want 8: the clone's enqueue leaked into it", r.id)
	}
}
