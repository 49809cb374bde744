// Package cli is apiscopes' command line: one cobra tree, styled by fang,
// that runs in this process, in a console or server holding the database
// (for the commands another process sends it), and over SSH.
package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"charm.land/fang/v2"
	"github.com/spf13/cobra"
)

// Main runs the command line of this process and returns its exit status.
// ctrl+c and SIGTERM cancel the command's context once; a second one ends
// the process as the signal's default does.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	defer stop()
	return Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// Run runs the command line args with the given streams and returns the
// exit status: 0 done or allowed, 1 refused, 2 usage or environment error,
// 3 worth retrying (see ExitCode). Flags default from APISCOPES_<FLAG>.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	inv := &invocation{stdin: stdin, stdout: stdout, stderr: redactKeys(stderr), getenv: os.Getenv}
	return inv.execute(ctx, args)
}

// execute runs args on inv's tree and returns the exit status. Every
// message, cobra's and fang's own included, goes through inv.stderr, which
// shows anything shaped like a key by its hint.
func (inv *invocation) execute(ctx context.Context, args []string) int {
	root := inv.newRoot()
	inv.root = root
	if err := refuseSingleDashLongFlags(root, args); err != nil {
		inv.report(err)
		return ExitUsage
	}
	root.SetArgs(args)
	root.SetIn(inv.stdin)
	root.SetOut(inv.stdout)
	root.SetErr(inv.stderr)
	opts := []fang.Option{
		fang.WithVersion(buildVersion()),
		fang.WithErrorHandler(func(_ io.Writer, _ fang.Styles, err error) { inv.report(err) }),
	}
	if inv.served != nil {
		opts = append(opts, fang.WithoutCompletions(), fang.WithoutManpage())
	}
	err := fang.Execute(ctx, root, opts...)
	return exitCode(err)
}

// newRoot is the whole tree: the console at its root, and every command.
func (inv *invocation) newRoot() *cobra.Command {
	root := inv.consoleCommand()
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		inv.cmd, inv.cmdArgs = cmd, args
		if inv.served != nil {
			return inv.servedMayRun(cmd)
		}
		return inv.bindEnvironment(cmd)
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, err) })
	if inv.served != nil {
		for _, c := range inv.servedCommands() {
			root.AddCommand(c)
		}
		// A command not served here ("verify --scope …") is an unknown
		// command, not an unknown flag of the root's.
		root.FParseErrWhitelist.UnknownFlags = true
		return root
	}
	root.AddCommand(
		inv.serveCommand(),
		inv.verifyCommand(),
		inv.auditCommand(),
		inv.usageCommand(),
		inv.backupCommand(),
		inv.checkCommand(),
		inv.scanCommand(),
		inv.migrateCommand(),
		inv.upgradeCommand(),
		inv.demoCommand(),
		inv.versionCommand(),
	)
	for _, c := range inv.managementCommands() {
		root.AddCommand(c)
	}
	return root
}

// commandNames are the commands of the tree, for a message that lists them.
func (inv *invocation) commandNames() []string {
	var names []string
	if inv.root == nil {
		return names
	}
	for _, c := range inv.root.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" && c.Name() != "completion" {
			names = append(names, c.Name())
		}
	}
	return names
}
