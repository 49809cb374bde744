package server

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// keyOptions are the options of an authorized_keys line that apiscopes
// honours, read as sshd reads them, in order, so that a later option
// overrides an earlier one ("restrict,pty").
type keyOptions struct {
	from     hostPatterns // nil: any address
	expires  time.Time    // zero: never
	noPTY    bool
	ptyOff   string // the option that turned the terminal off: "restrict" or "no-pty"
	restrict bool   // restrict: read commands only, unless command= names the one change it runs
	command  string // command=: what every session of the key runs, whatever the client asks
}

// alwaysInForce are restrictions that hold for every apiscopes session, so
// a line may carry them: the server forwards no ports, agents or X11
// displays and runs no rc file.
var alwaysInForce = map[string]bool{
	"no-port-forwarding": true, "no-agent-forwarding": true, "no-x11-forwarding": true, "no-user-rc": true,
}

// parseKeyOptions reads a line's options. An option apiscopes does not
// implement is an error naming it: ignoring, say, command= would grant
// more than the line says.
func parseKeyOptions(opts []string, loc *time.Location) (keyOptions, error) {
	var o keyOptions
	for _, opt := range opts {
		name, value, hasValue := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		switch {
		case name == "restrict" && !hasValue:
			o.noPTY, o.ptyOff, o.restrict = true, "restrict", true
		case name == "command" && hasValue:
			v, err := unquoteCommand(value)
			if err != nil {
				return o, err
			}
			o.command = v
		case name == "no-pty" && !hasValue:
			o.noPTY, o.ptyOff = true, "no-pty"
		case name == "pty" && !hasValue:
			o.noPTY, o.ptyOff = false, ""
		case alwaysInForce[name] && !hasValue:
		case name == "from" && hasValue:
			v, err := unquote(name, value)
			if err != nil {
				return o, err
			}
			if o.from, err = parseHostPatterns(v); err != nil {
				return o, err
			}
		case name == "expiry-time" && hasValue:
			v, err := unquote(name, value)
			if err != nil {
				return o, err
			}
			if o.expires, err = parseExpiry(v, loc); err != nil {
				return o, err
			}
		default:
			return o, fmt.Errorf("option %s is not supported by apiscopes (it honours from=, expiry-time=, command=, restrict, no-pty and pty)", shortOption(opt))
		}
	}
	return o, nil
}

// unquote strips the double quotes sshd requires around an option's value.
func unquote(name, v string) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("%s= needs its value in double quotes, e.g. %s=\"…\"", name, name)
	}
	return v[1 : len(v)-1], nil
}

// unquoteCommand reads command="…" as sshd does: in double quotes, where
// \" stands for a quote. An empty command runs nothing and is refused.
func unquoteCommand(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errors.New(`command= needs its value in double quotes, e.g. command="key roll id:7 --grace 1h"`)
	}
	cmd := strings.TrimSpace(strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`))
	if cmd == "" {
		return "", errors.New(`command="" runs nothing: name the command the key may run`)
	}
	return cmd, nil
}

// shortOption names an option for a message: its name, and its value only
// if short, so a long command= does not flood the log.
func shortOption(opt string) string {
	if len(opt) > 40 {
		name, _, _ := strings.Cut(opt, "=")
		return name + "=…"
	}
	return opt
}

// parseExpiry reads an expiry-time value as sshd does: YYYYMMDD,
// YYYYMMDDHHMM or YYYYMMDDHHMMSS, in the server's local time, or in UTC
// with a Z at the end. The key works up to that moment; YYYYMMDD means the
// start of that day.
func parseExpiry(v string, loc *time.Location) (time.Time, error) {
	s := v
	if strings.HasSuffix(s, "Z") {
		s, loc = strings.TrimSuffix(s, "Z"), time.UTC
	}
	layout := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}[len(s)]
	t, err := time.ParseInLocation(layout, s, loc)
	if layout == "" || err != nil {
		return time.Time{}, fmt.Errorf("expiry-time=%q is not a time: give YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS (local time, or UTC with a Z at the end)", v)
	}
	return t, nil
}
