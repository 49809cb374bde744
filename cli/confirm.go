package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// confirm asks before a change that removes something (scopes from an app
// with keys, a key, an app, --prune): the question goes to the caller's
// terminal; without one the change needs --yes, and a usage error names
// the flag. An answer other than y or yes changes nothing (exit 1).
func (inv *invocation) confirm(cmd *cobra.Command, yes bool, question string) error {
	if yes {
		return nil
	}
	if !inv.isTerminal() {
		return usagef(cmd, "stdin is not a terminal, so this cannot be confirmed here: pass --yes to %s", question)
	}
	answer, err := inv.ask(fmt.Sprintf("%s %s? [y/N] ", strings.ToUpper(question[:1]), question[1:]))
	if err != nil {
		return failf(ExitUsage, "no answer: %v; nothing was changed", err)
	}
	switch strings.ToLower(answer) {
	case "y", "yes":
		return nil
	}
	return failf(ExitRefused, "not confirmed: nothing was changed")
}

// ask puts a question to the caller: at this terminal, or through the
// process running the command for them.
func (inv *invocation) ask(question string) (string, error) {
	if s := inv.served; s != nil && s.Ask != nil {
		return s.Ask(question)
	}
	return inv.askHere(question)
}

// yesFlag adds --yes to a command that asks before it changes anything.
func yesFlag(cmd *cobra.Command, yes *bool) {
	cmd.Flags().BoolVarP(yes, "yes", "y", false, "do it without asking (needed when stdin is not a terminal)")
}
