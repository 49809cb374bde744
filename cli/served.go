package cli

import (
	"context"

	"github.com/spf13/cobra"

	"apiscopes/server/local"
	"apiscopes/store"
)

// managementCommands change apps and keys: the same in this process, sent
// to a holder, and over SSH.
func (inv *invocation) managementCommands() []*cobra.Command {
	return []*cobra.Command{inv.appCommand(), inv.keyCommand(), inv.applyCommand()}
}

// servedCommands are the tree a session runs: the changes of apps and
// keys, the audit trail (and following it) and usage; over SSH also the
// open sessions. Nothing that names a file or a cluster of the server's.
func (inv *invocation) servedCommands() []*cobra.Command {
	cmds := append(inv.managementCommands(), inv.auditCommand(), inv.usageCommand())
	if inv.served.Sessions != nil {
		cmds = append(cmds, inv.sessionsCommand())
	}
	return cmds
}

// sessionsCommand is `ssh HOST sessions`: the SSH server's open sessions.
func (inv *invocation) sessionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "sessions",
		Short: "List the open SSH sessions (admins)",
		Long: `Lists the server's open console sessions: who, as what, from where, since when (UTC),
for how long, and with which key. Admins only.

Exit status: 0 done, 1 not allowed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if inv.served.Actor.Role != store.Admin {
				return failf(ExitRefused, "only admins may list the open sessions")
			}
			inv.served.Sessions(inv.stdout)
			return nil
		},
	}
}

// runForHolder runs a command line another process of this user sent the
// database's holder.
func runForHolder(ctx context.Context, c local.Call) int {
	return Serve(ctx, Session{Store: c.Store, Actor: c.Actor, Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr,
		Terminal: c.Terminal, Ask: c.Ask, Deliver: c.Deliver, TZ: c.TZ}, c.Args)
}
