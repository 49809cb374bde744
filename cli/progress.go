package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"charm.land/bubbles/v2/spinner"
)

// progress shows a spinner with a label on w while work runs, once the work
// has taken longer than 100 ms, and clears it afterwards. It draws only
// when w is a terminal: a log or a pipe gets nothing.
func progress(w io.Writer, label string, work func() error) error {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || !isTerminal(f) {
		return work()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		frames := spinner.MiniDot.Frames
		select {
		case <-done:
			return
		case <-time.After(100 * time.Millisecond):
		}
		tick := time.NewTicker(spinner.MiniDot.FPS)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%s %s", frames[i%len(frames)], label)
			select {
			case <-done:
				fmt.Fprint(w, "\r\x1b[2K") // clear the line
				return
			case <-tick.C:
			}
		}
	}()
	err := work()
	close(done)
	wg.Wait()
	return err
}
