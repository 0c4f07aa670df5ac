package loadprofiles

import (
	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/serverconf"
)

// Server overrides the configuration of the server under test (`sim serve`): the profile's
// server section. Its keys, their types, checks and help are the server's own
// (serverconf.Keys, those with Profile set); it holds only the keys the section sets, so that
// a key left out keeps the server's default and the runner can tell an override from a
// default. Set and Get take a key by name, Flags renders the set ones, Apply sets them in a
// server config.
type Server = serverconf.Overrides

// serverSection is the profile key of the server section.
const serverSection = "server"

// decodeServer reads the server section of a profile as yamldoc decoded it; value checks come
// with the rest of the profile's (checkServer).
func decodeServer(source string, raw map[string]any) (Server, error) {
	s, err := serverconf.Decode(serverSection, raw[serverSection])
	if ie, ok := err.(*invalid.Error); ok {
		ie.Source = source
	}
	return s, err
}

// checkServer checks the values the server section sets, each alone; a value that contradicts
// another key (work_time_p99 without lognormal work times) is refused when the section is
// applied onto the server's config, which knows every key.
func checkServer(s Server) error {
	return s.Check(serverSection)
}

// checkServerKeys returns an *invalid.Error for the first key (sorted, depth first) of the
// server section's mapping m, under path, that the server takes from no profile.
func checkServerKeys(m map[string]any, path, prefix string) *invalid.Error {
	for _, k := range sortedKeys(m) {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch {
		case serverconf.IsProfileKey(name):
		case serverconf.IsProfileSection(name):
			if sub, ok := m[k].(map[string]any); ok {
				if err := checkServerKeys(sub, join(path, k), name); err != nil {
					return err
				}
			}
			// A section of the wrong shape is left to decodeServer to report.
		default:
			return unknownKeyIn(path, k, serverconf.ProfileKeysAt(prefix))
		}
	}
	return nil
}
