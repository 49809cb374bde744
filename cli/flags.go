package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envName is the variable a flag defaults from: --max-pty reads
// APISCOPES_MAX_PTY.
func envName(flag string) string {
	return "APISCOPES_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindEnvironment sets each flag the command line left out from its
// APISCOPES_<FLAG> variable (an empty variable counts as unset), so the
// command line wins; a bad value is a usage error naming the variable.
// Where the command line names a database (--db or --etcd), the other
// kind's variables are ignored: a replica's shell keeps APISCOPES_ETCD.
func (inv *invocation) bindEnvironment(cmd *cobra.Command) error {
	var err error
	flags := cmd.Flags()
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" || f.Name == "version" {
			return
		}
		name := envName(f.Name)
		v := inv.getenv(name)
		if v == "" {
			return
		}
		if inv.fromEnv == nil {
			inv.fromEnv = map[string]bool{}
		}
		inv.fromEnv[f.Name] = true
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s=%q is not a valid value for --%s", name, v, f.Name)
			if f.DefValue != "" && f.DefValue != "[]" {
				err = fmt.Errorf("%w (its default is %s)", err, f.DefValue)
			}
		}
	})
	if err != nil {
		return usageError(cmd, err)
	}
	db, etcd := flags.Lookup("db"), flags.Lookup("etcd")
	if db == nil || etcd == nil {
		return nil
	}
	fileGiven, clusterGiven := db.Changed, etcd.Changed
	flags.VisitAll(func(f *pflag.Flag) {
		switch {
		case fileGiven && !clusterGiven && strings.HasPrefix(f.Name, "etcd") && !f.Changed,
			clusterGiven && !fileGiven && f.Name == "db":
			f.Value.Set("")
		}
	})
	return nil
}

// refuseSingleDashLongFlags refuses "-db" and its like before cobra reads
// them as the shorthands -d -b: a word of one dash that names a long flag
// of the tree gets a message naming its --db form. Words after "--" are
// arguments.
func refuseSingleDashLongFlags(root *cobra.Command, args []string) error {
	long := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, a := range args {
		if a == "--" {
			return nil
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		if name, _, _ := strings.Cut(a[1:], "="); long[name] {
			return fmt.Errorf("-%s: long flags take two dashes: -%s", name, a)
		}
	}
	return nil
}

// given reports whether the command line itself gave the flag (not its
// APISCOPES_ variable).
func given(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Changed
}

// noArgs refuses arguments as a usage error naming the first.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef(cmd, "unexpected argument %q", args[0])
	}
	return nil
}

// argsBetween wants from min to max arguments, as a usage error.
func argsBetween(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case max == 0:
			return noArgs(cmd, args)
		case len(args) > max:
			return usagef(cmd, "unexpected argument %q: it takes at most %d", args[max], max)
		case len(args) < min:
			return usagef(cmd, "wants %d argument(s), got %d", min, len(args))
		}
		return nil
	}
}

// subcommandsOnly is the Args of a command that only groups others (app,
// key): a word that is none of them is an unknown command.
func subcommandsOnly(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return usagef(cmd, "unknown command %q for %q; its commands are %s", args[0], cmd.CommandPath(), strings.Join(names, ", "))
}
