package sockets_test

import (
	"fmt"
	"log"

	"github.com/simdev/sim/simulator/sockets"
)

// A monitor of a hung server samples its port and reads the symptoms of the
// self-call deadlock: server-side CLOSE_WAIT and a growing accept queue.
func ExampleNew() {
	s := sockets.New() // netlink, or /proc where netlink is refused
	defer s.Close()
	c, err := s.Sample(8080)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: CLOSE_WAIT %d, accept queue %d/%d\n",
		s.Method(), c.Server[sockets.CloseWait], c.AcceptQueue, c.AcceptQueueMax)
}
