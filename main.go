// Command apiscopes is a terminal settings console for scoped API apps and
// their API keys: Settings › Security & Control › API Scopes. The command
// line is package cli.
package main

import (
	"os"

	"apiscopes/cli"
)

func main() { os.Exit(cli.Main()) }
