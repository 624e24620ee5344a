package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vpclab/vpclab/topology"
)

// progressDelay is how long a build runs before its progress bar appears:
// a small topology comes up without a bar flashing by.
const progressDelay = 300 * time.Millisecond

// isTerminal reports whether w is a terminal (a tty on a file descriptor).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// buildProgress returns the Build options that show a progress bar on
// stderr while t comes up, once it has taken progressDelay, and a func
// that clears the bar; label starts the bar's line ("vpclab up"). When
// stderr is not a terminal it shows nothing: logs and CI output get no
// control characters.
func buildProgress(stderr io.Writer, label string, t *topology.Topology) (opts []topology.BuildOption, finish func()) {
	if !isTerminal(stderr) {
		return nil, func() {}
	}
	report, finish := progressReporter(stderr, label, len(t.Instances), time.Now)
	return []topology.BuildOption{topology.OnProgress(report)}, finish
}

// progressReporter returns the function that draws Build's progress on w,
// from progressDelay after now() on, and the one that clears it.
func progressReporter(w io.Writer, label string, instances int, now func() time.Time) (report func(done, total int), finish func()) {
	start := now()
	var bar *progressbar.ProgressBar
	report = func(done, total int) {
		if bar == nil {
			if now().Sub(start) < progressDelay || done == total {
				return
			}
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(fmt.Sprintf("%s: bringing up %s", label, count(instances, "instance"))),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionClearOnFinish(),
			)
		}
		bar.Set(done)
	}
	finish = func() {
		if bar != nil {
			bar.Finish() // the bar is cleared: the report follows on a clean line
		}
	}
	return report, finish
}
