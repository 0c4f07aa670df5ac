package model

// Cloning is correct by construction: every part of the engine has a clone method that makes
// its own state independent of the original's (its slices copied; its config, if any, shared
// read-only), and engine.cloneInto calls each part's. TestCloneSharesNothing walks the engine
// and every part by reflection, so a slice added to a part and not cloned fails it.

// cloneSlack is the room each slice of a clone has to grow before an append moves it: a
// trajectory adds a few requests and connections, and recycles them.
const cloneSlack = 4

// cloneBlock is how many elements a cloner allocates at once: a steady system's queues and idle
// lists hold a few dozen refs in all, so a clone's refs usually come from one block.
const cloneBlock = 64

// cloner hands out the copies of a clone's small slices from shared blocks, so that a clone is
// a handful of allocations however many parts it has. Each copy has room for cloneSlack more
// elements; its capacity ends where the next one starts, so an append beyond it moves it rather
// than overwrite its neighbour.
type cloner struct {
	refBlock []ref
	idBlock  []int32
}

// refs returns a copy of s.
func (a *cloner) refs(s []ref) []ref {
	n := len(s) + cloneSlack
	if len(a.refBlock) < n {
		a.refBlock = make([]ref, max(n, cloneBlock))
	}
	out := append(a.refBlock[:0:n], s...)
	a.refBlock = a.refBlock[n:]
	return out
}

// ids returns a copy of s.
func (a *cloner) ids(s []int32) []int32 {
	n := len(s) + cloneSlack
	if len(a.idBlock) < n {
		a.idBlock = make([]int32, max(n, cloneBlock))
	}
	out := append(a.idBlock[:0:n], s...)
	a.idBlock = a.idBlock[n:]
	return out
}

// cloneSlice returns a copy of s with room for slack more elements.
func cloneSlice[T any](s []T, slack int) []T {
	return append(make([]T, 0, len(s)+slack), s...)
}

// clone makes q's items its own, compacted to start at its head.
func (q *fifo) clone(a *cloner) {
	q.items, q.head = a.refs(q.items[q.head:]), 0
}
