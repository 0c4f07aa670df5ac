package app

import (
	"testing"

	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/simulator/connector"
	"github.com/simdev/sim/simulator/static"
)

// The schema names the connector modes and static servers for a profile to check them; the
// packages that run them must take the same words, or a value the schema accepts would start
// something else.
func TestSchemaWordsAreThePackages(t *testing.T) {
	for _, w := range []struct{ schema, pkg string }{
		{serverconf.NIO, connector.NIO},
		{serverconf.BIO, connector.BIO},
		{serverconf.Embedded, static.Embedded},
		{serverconf.Nginx, static.Nginx},
	} {
		if w.schema != w.pkg {
			t.Errorf("schema says %q, the package %q", w.schema, w.pkg)
		}
	}
}
