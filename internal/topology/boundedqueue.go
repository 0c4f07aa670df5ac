package topology

// BoundedQueue bounds the worker queue at max_queue_size requests — Tomcat's
// <Executor maxQueueSize>: a request that finds the queue full is refused with 503. It limits
// how much piles up, not the cycle: once every worker holds a page, the self-calls already in the
// queue wait behind them for good, and new requests get 503 until a restart.
const BoundedQueue = "bounded-queue"

func init() {
	register(Topology{
		Name: BoundedQueue, Order: 50, Label: "bounded queue", Color: "#9467bd",
		Summary:     "the worker queue holds at most max_queue_size requests (100 unless set); beyond it, 503",
		Counterpart: "Tomcat <Executor maxQueueSize>",
		Cost:        "One attribute. Overload turns into fast 503s instead of a growing queue, but the cycle is still there: once every worker holds a page, the self-calls in the queue wait for good, and every later request gets 503 — a hang that answers quickly.",
		Mechanics:   Mechanics{Fragment: FromSelf, QueueLimit: true},
		Keys:        []string{"max_queue_size"},
		Defaults:    map[string]string{"max_queue_size": "100"},
	})
}
