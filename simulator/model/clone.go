package model

// Cloning is correct by construction: every part of the engine has a clone method that makes
// its own state independent of the original's (its slices copied; its config, if any, shared
// read-only), and engine.cloneInto calls each part's. TestCloneSharesNothing walks the engine
// and every part by reflection, so a slice added to a part and not cloned fails it.

// cloneSlack is the room each slice of a clone has to grow before an append moves it: a
// trajectory adds a few requests and connections, and recycles them.
const cloneSlack = 4

// cloner hands out the copies of a clone's small slices from two blocks (one of refs, one of
// ids), so that a clone is a handful of allocations however many parts it has. It is used in two
// passes over the parts: the first (sizing) only adds up what the copies need, the second
// carves them from blocks of exactly that size. Each copy has room for cloneSlack more
// elements; its capacity ends where the next one starts, so an append beyond it moves it rather
// than overwrite its neighbour.
type cloner struct {
	sizing      bool
	nRefs, nIDs int
	refBlock    []ref
	idBlock     []int32
}

// sized ends the sizing pass: the blocks are allocated.
func (a *cloner) sized() {
	a.sizing = false
	a.refBlock = make([]ref, a.nRefs)
	a.idBlock = make([]int32, a.nIDs)
}

// refs makes *p a copy of itself; while sizing it only counts (a sizing pass writes nothing,
// so it costs no write barrier).
func (a *cloner) refs(p *[]ref) {
	n := len(*p) + cloneSlack
	if a.sizing {
		a.nRefs += n
		return
	}
	if len(a.refBlock) < n { // a cloner used without a sizing pass
		a.refBlock = make([]ref, n)
	}
	*p = append(a.refBlock[:0:n], *p...)
	a.refBlock = a.refBlock[n:]
}

// ids makes *p a copy of itself, as refs.
func (a *cloner) ids(p *[]int32) {
	n := len(*p) + cloneSlack
	if a.sizing {
		a.nIDs += n
		return
	}
	if len(a.idBlock) < n {
		a.idBlock = make([]int32, n)
	}
	*p = append(a.idBlock[:0:n], *p...)
	a.idBlock = a.idBlock[n:]
}

// fifo makes q's items its own, compacted to start at its head.
func (a *cloner) fifo(q *fifo) {
	if a.sizing {
		a.nRefs += len(q.items) - q.head + cloneSlack
		return
	}
	q.items = q.items[q.head:]
	q.head = 0
	a.refs(&q.items)
}

// table makes a table's slice *p a copy of itself with room for cloneSlack more elements, an
// allocation of its own (nothing while sizing).
func table[T any](a *cloner, p *[]T) {
	if !a.sizing {
		*p = cloneSlice(*p, cloneSlack)
	}
}

// cloneSlice returns a copy of s with room for slack more elements.
func cloneSlice[T any](s []T, slack int) []T {
	return append(make([]T, 0, len(s)+slack), s...)
}
