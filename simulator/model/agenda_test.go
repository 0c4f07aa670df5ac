package model

import (
	"math/rand/v2"
	"testing"
)

// The agenda must hand events out exactly in the order one heap of every event would: the
// fixed-delay FIFOs, the heap and the arrival slot interleaved, through ring wrap-arounds and
// growth; and a clone must go on exactly as its original without disturbing it.
func TestAgendaOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var delays [nQueues]float64
	for i := range delays {
		delays[i] = float64(rng.IntN(5)) / 4 // ties between queues and with the heap, on purpose
	}
	a := &agenda{delay: &delays}
	var ref eventHeap // every event scheduled, as the engine once kept them
	now := 0.0
	schedule := func() {
		switch r := rng.IntN(3); {
		case r == 0:
			a.after(now, rng.IntN(nQueues), evWorkEnd, 0, 0)
		case r == 1 || a.arrives:
			a.at(now+float64(rng.IntN(8))/4, evSynRetry, 0, 0)
		default:
			a.setArrival(now + float64(rng.IntN(3))/4)
		}
		// The agenda numbered the event: the reference gets the same one.
		ref.push(a.find(a.seq))
	}
	pop := func(a *agenda) (event, bool) {
		src, at := a.next()
		if src == srcNone {
			return event{}, false
		}
		ev := a.take(src)
		if ev.t != at {
			t.Fatalf("next said %g, took an event at %g", at, ev.t)
		}
		return ev, true
	}
	popped := 0
	for i := 0; i < 40000; i++ {
		if rng.IntN(2) == 0 || len(ref) == 0 {
			schedule()
			continue
		}
		ev, ok := pop(a)
		want := ref.pop()
		if !ok || ev != want {
			t.Fatalf("pop %d: got %+v (%v), want %+v", popped, ev, ok, want)
		}
		now = ev.t
		popped++
		if popped == 5000 {
			// A clone pops what its original would, and the original is untouched.
			c := a.clone()
			twin := append(eventHeap(nil), ref...)
			for len(twin) > 0 {
				ev, ok := pop(&c)
				if want := twin.pop(); !ok || ev != want {
					t.Fatalf("clone: got %+v, want %+v", ev, want)
				}
				if rng.IntN(3) == 0 {
					c.after(ev.t, qWork, evWorkEnd, 1, 1) // writes into the clone's rings
					twin.push(c.find(c.seq))
				}
			}
		}
	}
	if popped < 10000 {
		t.Fatalf("only %d events popped", popped)
	}
}

// find returns the queued or heaped event numbered seq (tests only).
func (a *agenda) find(seq uint64) event {
	if a.arrives && a.arrival.seq == seq {
		return a.arrival
	}
	for _, ev := range a.h {
		if ev.seq == seq {
			return ev
		}
	}
	for i := range a.q {
		q := &a.q[i]
		for k := 0; k < int(q.n); k++ {
			if ev := q.buf[(int(q.head)+k)%len(q.buf)]; ev.seq == seq {
				return ev
			}
		}
	}
	panic("no such event")
}
