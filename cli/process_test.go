package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// A test can run the command line in a process of its own: this test
// binary, started again with childArgsEnv set to the arguments as JSON. The
// child reports how long run took on its last line of stderr.
const (
	childArgsEnv   = "APISCOPES_TEST_CHILD_ARGS"
	childElapsedAt = "child-elapsed-ms "
)

func TestMain(m *testing.M) {
	if raw := os.Getenv(childArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		start := time.Now()
		os.Args = append([]string{"apiscopes"}, args...)
		code := Main()
		fmt.Fprintf(os.Stderr, "\n%s%d\n", childElapsedAt, time.Since(start).Milliseconds())
		os.Exit(code)
	}
	// The command scripts run apiscopes as a command of their own: this
	// test binary, by that name (see TestScripts).
	testscript.Main(m, map[string]func(){"apiscopes": func() {
		if os.Getenv(scriptSSHAddr) != "" {
			os.Exit(runOverSSH(os.Args[1:]))
		}
		os.Exit(Main())
	}, "status": status})
}

// childResult is how a command-line child process ended.
type childResult struct {
	code    int
	stdout  string
	stderr  string
	elapsed time.Duration // inside run, as the child measured it
}

// runChild runs `apiscopes args…` in a new process with stdin (nil for
// none), killing it if it has not finished within 20 s: a hang fails the
// test rather than the suite.
func runChild(t *testing.T, stdin *os.File, args ...string) childResult {
	t.Helper()
	raw, _ := json.Marshal(args)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("apiscopes %v did not finish within 20 s; stderr:\n%s", args, errb.String())
	}
	res := childResult{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("apiscopes %v: %v", args, err)
	}
	if i := strings.LastIndex(res.stderr, childElapsedAt); i >= 0 {
		ms, _ := strconv.Atoi(strings.TrimSpace(res.stderr[i+len(childElapsedAt):]))
		res.elapsed = time.Duration(ms) * time.Millisecond
		res.stderr = strings.TrimSpace(res.stderr[:i])
	} else {
		t.Fatalf("apiscopes %v did not report its time; stderr:\n%s", args, res.stderr)
	}
	return res
}

// run runs the command line in this process, as Main does.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Run(context.Background(), args, stdin, stdout, stderr)
}

// status is the scripts' check of an exit status: `exec status N CMD ARG…`
// runs CMD with its stdin, stdout and stderr, and succeeds only when it
// exits with status N (testscript's ! exec takes any failure).
func status() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: status N CMD [ARG…]")
		os.Exit(2)
	}
	want, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "status: N is a number")
		os.Exit(2)
	}
	c := exec.Command(os.Args[2], os.Args[3:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	code := 0
	var exitErr *exec.ExitError
	if err := c.Run(); errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "status:", err)
		os.Exit(2)
	}
	if code != want {
		fmt.Fprintf(os.Stderr, "status: %s exited %d, want %d\n", os.Args[2], code, want)
		os.Exit(1)
	}
	os.Exit(0)
}
