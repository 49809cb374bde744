package server

// sessionEnv is the environment a session's console sees: the terminal
// type its PTY request named, and TZ if the client sent one (ssh -o
// SendEnv=TZ), for times in the user's own zone. Nothing else a client
// sends reaches the console: its variables would otherwise choose colours,
// locales and whatever else a library reads from an environment, on the
// server's side.
func sessionEnv(term string, sent []string) []string {
	env := []string{"TERM=" + term}
	if tz := sessionTZ(sent); tz != "" {
		env = append(env, "TZ="+tz)
	}
	return env
}
