package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/clearml-runai/proc"
)

// runWait waits until "up" in DIR wrote its ready file, or fails as soon as
// its process is gone.
func runWait(args []string) int {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory given to \"up\" (required)")
	timeout := fs.Duration("timeout", 180*time.Second, "how long to wait (0: check once)")
	quiet := fs.Bool("q", false, "print nothing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "kai wait: --dir is required")
		return 2
	}
	say := func(format string, a ...any) int {
		if !*quiet {
			fmt.Fprintf(os.Stderr, "kai wait: "+format+"\n", a...)
		}
		return 1
	}
	deadline := time.Now().Add(*timeout)
	for {
		// "up" writes its pid file first and removes it when it exits.
		pid, err := proc.ReadPid(filepath.Join(*dir, pidFileName))
		switch {
		case os.IsNotExist(err):
			return say("KAI is not running (no %s)", pidFileName)
		case err != nil:
			return say("%v", err)
		case !proc.Alive(pid):
			return say("KAI (pid %d) is not running", pid)
		default:
			if _, err := os.Stat(filepath.Join(*dir, readyFileName)); err == nil {
				if !*quiet {
					fmt.Println("ready")
				}
				return 0
			}
		}
		if !time.Now().Before(deadline) {
			return say("not ready after %s", *timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
