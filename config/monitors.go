package config

// MonitorsConfig places the monitor files (package monitors). The shipped
// monitors for the demo city are built in; a file in Dir with the same
// name overrides one of them, any other adds a monitor.
type MonitorsConfig struct {
	// Dir is a directory of monitor YAML files; empty = the shipped ones only.
	Dir string `yaml:"monitors_dir"`
}

// monitorsEnv are the monitor variables of Env.
var monitorsEnv = []EnvVar{
	{"CITYAGENT_MONITORS_DIR", "directory of monitor YAML files that add to or override the built-in monitors", func(c *Config, v string) error { c.Monitors.Dir = v; return nil }},
}
