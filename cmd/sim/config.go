package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/internal/userfile"
	"github.com/simdev/sim/internal/yamldoc"
	"github.com/simdev/sim/simulator/app"
)

// addServerFlags declares a flag for every server config key (serverconf.Keys), with its
// default and its environment variable in the help.
func addServerFlags(fs *pflag.FlagSet) {
	for _, k := range serverconf.Keys() {
		name := k.FlagName()
		usage := fmt.Sprintf("%s (%s)", k.Usage, k.EnvName())
		switch d := k.Default().(type) {
		case int:
			fs.Int(name, d, usage)
		case bool:
			fs.Bool(name, d, usage)
		case time.Duration:
			// A negative default is the internal "unset" (keep_alive_timeout): help shows none.
			if d < 0 {
				fs.String(name, "", usage)
			} else {
				fs.Duration(name, d, usage)
			}
		case string:
			fs.String(name, d, usage)
		}
	}
	fs.String("config", "", "YAML file with config keys (flags and SIM_* variables override it)")
}

// loadServerConfig reads the server config: flags over SIM_* environment variables over the
// --config YAML file over defaults, normalized and validated. Every mistake is an
// *invalid.Error naming the key, with where it came from as Source.
func loadServerConfig(cmd *cobra.Command) (app.Config, error) {
	cfg, err := resolveServerConfig(cmd)
	if err != nil {
		return app.Config{}, err
	}
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return app.Config{}, err
	}
	return cfg, nil
}

// resolveServerConfig sets every key from its first source (flag, environment, --config file),
// each value parsed and checked alone by the key's schema; keys checked against each other
// are left to Validate.
func resolveServerConfig(cmd *cobra.Command) (app.Config, error) {
	v := viper.New()
	path, _ := cmd.Flags().GetString("config")
	if path != "" {
		raw, err := readConfigFile(path)
		if err != nil {
			return app.Config{}, err
		}
		if unknown := serverconf.Unknown(raw); len(unknown) > 0 {
			var names []string
			for _, k := range serverconf.Keys() {
				names = append(names, k.Name)
			}
			return app.Config{}, &invalid.Error{Source: path, Field: unknown[0], Value: "(unknown key)", Allowed: "the keys listed by 'sim serve --help': " + strings.Join(names, ", ")}
		}
		// Only known keys reach viper, a few dozen at most, so its case-insensitive merge
		// (which compares every pair of keys) stays cheap.
		if err := v.MergeConfigMap(raw); err != nil {
			return app.Config{}, fmt.Errorf("--config %s: %w", path, err)
		}
	}
	cfg := app.Defaults()
	for _, k := range serverconf.Keys() {
		var err error
		var source string
		if f := cmd.Flags().Lookup(k.FlagName()); f != nil && f.Changed {
			source = "--" + f.Name
			err = k.SetText(&cfg, f.Value.String())
		} else if s, ok := os.LookupEnv(k.EnvName()); ok {
			source = k.EnvName()
			err = k.SetText(&cfg, s)
		} else if v.IsSet(k.Name) {
			source = "config file"
			err = k.SetValue(&cfg, v.Get(k.Name))
		}
		if err != nil {
			var ie *invalid.Error
			if errors.As(err, &ie) {
				ie.Source = source
			}
			return app.Config{}, err
		}
	}
	return cfg, nil
}

// maxConfigSize caps the --config file: it sets at most the few dozen keys 'sim serve --help'
// lists, each a short value, so a complete config with a comment on every key is under 8 KiB.
const maxConfigSize = 64 << 10

// readConfigFile reads the --config YAML file into a map with lower-case keys. It reads only a
// regular file of at most maxConfigSize (a FIFO or /dev/zero would hang the command), and
// refuses keys that differ only in case before viper folds them into one ("max_threads: 4" and
// "MAX_THREADS: 20000" used to give 20,000). Every error is an *invalid.Error naming the file.
func readConfigFile(path string) (map[string]any, error) {
	data, err := userfile.Read("--config", path, maxConfigSize)
	if err != nil {
		return nil, err
	}
	raw, err := yamldoc.Decode(data)
	var ie *invalid.Error
	switch {
	case err == nil:
		return raw, nil
	case errors.As(err, &ie) && ie.Field == "yaml":
		return nil, &invalid.Error{Field: "--config", Value: path, Allowed: fmt.Sprintf("%s (%v)", ie.Allowed, ie.Value)}
	case errors.As(err, &ie):
		ie.Source = path
	}
	return nil, err
}
