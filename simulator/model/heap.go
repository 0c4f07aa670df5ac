package model

// event is one scheduled happening: at time t (virtual seconds), of kind, about the entity id
// (a request or a connection, by kind) in the incarnation gen. An entity freed and reused gets
// a new gen, so an event for its former incarnation is recognised as stale and dropped.
type event struct {
	t    float64
	seq  uint64 // ties on t are broken by scheduling order, so runs are deterministic
	id   int32
	gen  uint32
	kind evKind
}

// eventHeap is a binary min-heap of events on (t, seq). Hand-written rather than
// container/heap: no interface boxing, and a clone copies it with one slice copy.
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	s.down(0)
	*h = s
	return top
}

// down moves event i down to its place.
func (h eventHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// init restores the heap order after events' times were changed in place.
func (h eventHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// ref names an entity incarnation in a queue; a ref whose gen no longer matches is stale.
type ref struct {
	id  int32
	gen uint32
}

// fifo is a first-in first-out queue of refs. Entries may go stale (a request dropped while
// queued); readers skip them, and the owner keeps a count of the live ones.
type fifo struct {
	items []ref
	head  int
}

func (q *fifo) push(r ref) { q.items = append(q.items, r) }

func (q *fifo) empty() bool { return q.head >= len(q.items) }

func (q *fifo) pop() ref {
	r := q.items[q.head]
	q.head++
	if q.head >= 1024 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items = q.items[:n]
		q.head = 0
	}
	return r
}
