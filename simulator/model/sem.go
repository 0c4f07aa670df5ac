package model

// semaphore is a counting semaphore whose waiters are served first come, first served: the
// shape of simulator/sem, and of the FIFO locks of the mechanics the model follows (the
// connector's executor and its unbounded queue, the admission limit, HttpClient's route and
// total leases). A waiter that gives up (leave) stays in the queue, marked stale by its own
// state, and is skipped when its turn comes; waiting counts only those still waiting.
type semaphore struct {
	size    int // permits; set once, but a dynamic pool's (connector.maintain)
	held    int
	queue   fifo
	waiting int
}

// free says whether a permit can be taken at once: one is free and nobody waits before.
func (s *semaphore) free() bool { return s.held < s.size && s.waiting == 0 }

// tryAcquire takes a permit if free says one can be taken.
func (s *semaphore) tryAcquire() bool {
	if s.free() {
		s.held++
		return true
	}
	return false
}

// take takes a permit without asking (bio: an accepted connection is its worker).
func (s *semaphore) take() { s.held++ }

// enqueue puts r at the queue's tail.
func (s *semaphore) enqueue(r ref) {
	s.queue.push(r)
	s.waiting++
}

// leave: a waiter gives up; its entry is skipped (valid says so) when it reaches the head.
func (s *semaphore) leave() { s.waiting-- }

// release hands the permit being given back to the longest waiter still waiting (valid says
// which entries are), and returns it; with none, the permit is freed.
func (s *semaphore) release(valid func(ref) bool) (ref, bool) {
	for !s.queue.empty() {
		r := s.queue.pop()
		if !valid(r) {
			continue
		}
		s.waiting--
		return r, true
	}
	s.held--
	return ref{}, false
}

// drop gives a permit back with no hand-over (bio: a connection's worker, freed by its close).
func (s *semaphore) drop() { s.held-- }

func (s *semaphore) clone(a *cloner) { a.fifo(&s.queue) }
