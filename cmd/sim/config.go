package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/userfile"
	"github.com/simdev/sim/internal/yamldoc"
	"github.com/simdev/sim/simulator/app"
)

// addServerFlags declares a flag for every server config key, with its default in the help.
func addServerFlags(fs *pflag.FlagSet) {
	for _, k := range app.Keys() {
		name := app.FlagName(k.Name)
		usage := fmt.Sprintf("%s (%s)", k.Usage, app.EnvName(k.Name))
		switch d := k.Default().(type) {
		case int:
			fs.Int(name, d, usage)
		case bool:
			fs.Bool(name, d, usage)
		case time.Duration:
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
// --config YAML file over defaults. Unknown keys in the file and values of the wrong type are
// *invalid.Error.
func loadServerConfig(cmd *cobra.Command) (app.Config, error) {
	v := viper.New()
	path, _ := cmd.Flags().GetString("config")
	known := map[string]app.Key{}
	for _, k := range app.Keys() {
		known[k.Name] = k
	}
	if path != "" {
		raw, err := readConfigFile(path)
		if err != nil {
			return app.Config{}, err
		}
		var unknown []string
		unknownKeys(raw, "", known, &unknown)
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return app.Config{}, &invalid.Error{Source: path, Field: unknown[0], Value: "(unknown key)", Allowed: "the keys listed by 'sim serve --help': " + strings.Join(keyNames(), ", ")}
		}
		// Only known keys reach viper, a few dozen at most, so its case-insensitive merge
		// (which compares every pair of keys) stays cheap.
		if err := v.MergeConfigMap(raw); err != nil {
			return app.Config{}, fmt.Errorf("--config %s: %w", path, err)
		}
	}
	cfg := app.Defaults()
	for _, k := range app.Keys() {
		raw, source, set := lookup(cmd.Flags(), v, k)
		if !set {
			continue
		}
		if err := assign(&cfg, k, raw); err != nil {
			var ie *invalid.Error
			if errors.As(err, &ie) {
				ie.Source = source
			}
			return app.Config{}, err
		}
	}
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return app.Config{}, err
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

// unknownKeys appends to out the dotted names of the keys of m (under prefix) that name no
// config key, nor a mapping of config keys ("static").
func unknownKeys(m map[string]any, prefix string, known map[string]app.Key, out *[]string) {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if _, ok := known[name]; ok {
			continue
		}
		if sub, ok := v.(map[string]any); ok && isSection(name, known) {
			unknownKeys(sub, name, known, out)
			continue
		}
		*out = append(*out, name)
	}
}

// isSection reports whether name is the mapping some config keys are nested in.
func isSection(name string, known map[string]app.Key) bool {
	for k := range known {
		if strings.HasPrefix(k, name+".") {
			return true
		}
	}
	return false
}

func keyNames() []string {
	var names []string
	for _, k := range app.Keys() {
		names = append(names, k.Name)
	}
	return names
}

// lookup finds a key's raw value by precedence: flag, environment, file.
func lookup(fs *pflag.FlagSet, v *viper.Viper, k app.Key) (any, string, bool) {
	if f := fs.Lookup(app.FlagName(k.Name)); f != nil && f.Changed {
		return f.Value.String(), "--" + f.Name, true
	}
	if s, ok := os.LookupEnv(app.EnvName(k.Name)); ok {
		return s, app.EnvName(k.Name), true
	}
	if v.IsSet(k.Name) {
		return v.Get(k.Name), "config file", true
	}
	return nil, "", false
}

// assign parses raw for key k and stores it in cfg.
func assign(cfg *app.Config, k app.Key, raw any) error {
	switch p := k.Ptr(cfg).(type) {
	case *int:
		n, err := toInt(raw)
		if err != nil {
			return invalid.Field(k.Name, raw, "a whole number")
		}
		*p = n
	case *bool:
		b, err := toBool(raw)
		if err != nil {
			return invalid.Field(k.Name, raw, "true or false")
		}
		*p = b
	case *time.Duration:
		d, err := toDuration(raw)
		if err != nil {
			return invalid.Field(k.Name, raw, "a duration such as 250ms or 20s")
		}
		// No key takes a negative duration, as the profile's server section says; a negative
		// default is an internal "unset" that a user's value must not land on.
		if d < 0 {
			return invalid.Field(k.Name, raw, "a duration >= 0")
		}
		*p = d
	case *string:
		s, ok := raw.(string)
		if !ok {
			return invalid.Field(k.Name, raw, "a string")
		}
		*p = s
	}
	return nil
}

func toInt(raw any) (int, error) {
	switch x := raw.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if x != float64(int(x)) {
			return 0, errors.New("not whole")
		}
		return int(x), nil
	case string:
		var n int
		_, err := fmt.Sscanf(strings.TrimSpace(x), "%d", &n)
		if err != nil || fmt.Sprint(n) != strings.TrimSpace(x) {
			return 0, errors.New("not a number")
		}
		return n, nil
	}
	return 0, errors.New("not a number")
}

func toBool(raw any) (bool, error) {
	switch x := raw.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes":
			return true, nil
		case "false", "0", "no":
			return false, nil
		}
	}
	return false, errors.New("not a bool")
}

// toDuration accepts Go duration strings; a bare number is refused (except 0), because "100"
// could mean seconds or milliseconds.
func toDuration(raw any) (time.Duration, error) {
	switch x := raw.(type) {
	case string:
		return time.ParseDuration(strings.TrimSpace(x))
	case int:
		if x == 0 {
			return 0, nil
		}
	case float64:
		if x == 0 {
			return 0, nil
		}
	case time.Duration:
		return x, nil
	}
	return 0, errors.New("not a duration")
}
