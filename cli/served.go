package cli

import (
	"context"

	"github.com/spf13/cobra"

	"apiscopes/server"
	"apiscopes/server/local"
	"apiscopes/store"
)

// managementCommands change apps, keys, the key policy and approvals: the
// same in this process, sent to a holder, and over SSH.
func (inv *invocation) managementCommands() []*cobra.Command {
	return []*cobra.Command{inv.appCommand(), inv.keyCommand(), markChange(inv.applyCommand()), inv.policyCommand(),
		inv.approvalsCommand()}
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

// changeAnnotation marks the commands that change the database.
const changeAnnotation = "apiscopes/change"

// markChange marks cmd as one that changes the database.
func markChange(cmd *cobra.Command) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[changeAnnotation] = "true"
	return cmd
}

// servedMayRun refuses, for a session, what names a file or a database of
// the server's, and every change for a session that may only read.
func (inv *invocation) servedMayRun(cmd *cobra.Command) error {
	for _, name := range append([]string{"out"}, databaseFlags...) {
		if given(cmd, name) {
			if name == "out" {
				return usagef(cmd, "--out names a file of the server: redirect the command's stdout instead")
			}
			return usagef(cmd, "--%s names a database, but this command runs on the server's own: leave it out", name)
		}
	}
	if inv.served.ReadOnly && cmd.Annotations[changeAnnotation] != "" {
		return failf(ExitRefused, "your key's line in the allow-list has restrict, so it runs the commands that only read; "+
			"a change needs command=\"…\" on its line naming the one change it may make")
	}
	return nil
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

// sshCommands runs the commands SSH clients send the server, on st.
func sshCommands(st *store.Store) func(context.Context, server.CommandCall) int {
	return func(ctx context.Context, c server.CommandCall) int {
		return Serve(ctx, Session{Store: st, Actor: c.Actor, Remote: true, Stdin: c.Stdin, Stdout: c.Stdout,
			Stderr: c.Stderr, Terminal: c.Terminal, Ask: c.Ask, TZ: c.TZ, Sessions: c.Sessions, ReadOnly: c.ReadOnly}, c.Args)
	}
}

// runForHolder runs a command line another process of this user sent the
// database's holder.
func runForHolder(ctx context.Context, c local.Call) int {
	return Serve(ctx, Session{Store: c.Store, Actor: c.Actor, Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr,
		Terminal: c.Terminal, Ask: c.Ask, Deliver: c.Deliver, TZ: c.TZ}, c.Args)
}
