package runner

import (
	"net/url"
	"strconv"
)

func portOf(rawURL string) uint16 {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(u.Port())
	return uint16(n)
}
