package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"apiscopes/store"
)

// Exit statuses, the same for every command, locally and over SSH.
const (
	ExitOK      = 0 // done, or allowed
	ExitRefused = 1 // refused: denied, unknown, ambiguous, not allowed
	ExitUsage   = 2 // a usage or environment error: nothing was asked of the store
	ExitRetry   = 3 // worth trying again: a conflict, a cluster unavailable
	ExitPending = 4 // a change (or part of one) waits for a second admin's approval
)

// exitError ends a command with a status; a nil err means the command has
// already said why (verify's reason line, scan's findings).
type exitError struct {
	code int
	err  error
	cmd  string // the command's path, for the message
	help bool   // a usage error: point at the command's --help
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exit ends a command with code and no further message.
func exit(code int) error { return &exitError{code: code} }

// usageError is a command used wrongly: exit 2, and a pointer to its help.
func usageError(cmd *cobra.Command, err error) error {
	return &exitError{code: ExitUsage, err: err, cmd: cmd.CommandPath(), help: true}
}

// usagef is usageError with a message of its own.
func usagef(cmd *cobra.Command, format string, a ...any) error {
	return usageError(cmd, fmt.Errorf(format, a...))
}

// fail ends a command with code and err's message.
func fail(code int, err error) error { return &exitError{code: code, err: err} }

// failf is fail with a message of its own.
func failf(code int, format string, a ...any) error { return fail(code, fmt.Errorf(format, a...)) }

// refused is an error from the store as a command reports it, with the
// status its kind calls for.
func refused(err error) error {
	var e *exitError
	if errors.As(err, &e) {
		return err
	}
	return fail(ExitCode(err), err)
}

// ExitCode is the exit status for an error of the store or of a command:
// 1 refused, 2 environment, 3 worth retrying, 4 waiting for approval.
func ExitCode(err error) int {
	var e *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &e):
		return e.code
	case errors.Is(err, store.ErrPending):
		return ExitPending
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrOutcomeUnknown):
		return ExitRetry
	case errors.Is(err, store.ErrLocked), errors.Is(err, store.ErrWriteFailed), errors.Is(err, store.ErrDamaged),
		errors.Is(err, store.ErrNotDatabase):
		return ExitUsage
	case errors.Is(err, store.ErrPermission), errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNameTaken),
		errors.Is(err, store.ErrNoScopes):
		return ExitRefused
	}
	return ExitRefused
}

// exitCode is the status of a whole run: cobra's own errors (an unknown
// command or flag, a wrong number of arguments) are usage errors.
func exitCode(err error) int {
	var e *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &e):
		return e.code
	}
	return ExitUsage
}

// report prints how a run ended on stderr: one line naming the command,
// and for a usage error where its help is. Cobra's own errors are usage
// errors of the command they name.
func (inv *invocation) report(err error) {
	var e *exitError
	if !errors.As(err, &e) {
		e = &exitError{code: ExitUsage, err: err, help: true}
	}
	if e.err == nil {
		return
	}
	path := e.cmd
	if path == "" && inv.cmd != nil {
		path = inv.cmd.CommandPath()
	}
	if path == "" {
		path = "apiscopes"
	}
	msg := strings.TrimSpace(e.err.Error())
	if strings.HasPrefix(msg, "unknown command") {
		msg = strings.TrimSuffix(msg, "\nRun 'apiscopes --help' for usage.")
		msg = fmt.Sprintf("%s; the commands are %s", firstLine(msg), strings.Join(inv.commandNames(), ", "))
	}
	fmt.Fprintf(inv.stderr, "%s: %s\n", path, oneLine(msg))
	if e.help {
		fmt.Fprintf(inv.stderr, "run '%s --help' for usage\n", path)
	}
}

// oneLine joins a message's lines, so a refusal stays one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
