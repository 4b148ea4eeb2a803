// Command kai runs the KAI scheduler (the open-source core of the Run:ai
// scheduler, github.com/kai-scheduler/KAI-scheduler, v0.16.8 or v0.17.0) against the local control
// plane of ci/testenv, with fake GPU nodes whose pods kwok (sigs.k8s.io/kwok)
// moves through their phases.
//
// Subcommands:
//
//	kai up --kubeconfig K --dir DIR [flags]   run every component in the foreground (see up.go)
//	kai wait --dir DIR [--timeout D]          wait until "up" in DIR is ready (exit 0) or fail
//	kai scheduler|binder|podgrouper|admission [flags]
//	                                          one KAI component (started by "up")
//	kai kwok [flags]                          kwok, the kubelet stand-in (started by "up")
//	kai version                               the KAI version built in
package main

import (
	"fmt"
	"os"
)

const usage = `usage: kai <command> [flags]

commands:
  up --kubeconfig K --dir DIR     apply KAI's CRDs and the defaults, run KAI and kwok
                                  (foreground; stops on SIGTERM/SIGINT)
  wait --dir DIR [--timeout 120s] wait until "up" in DIR is ready
  scheduler [flags]               KAI scheduler, one per SchedulingShard (used by "up")
  binder [flags]                  KAI binder (used by "up")
  podgrouper [flags]              KAI pod-grouper (used by "up")
  admission [flags]               KAI admission webhook (used by "up")
  kwok [flags]                    kwok: fake nodes and pod phases (used by "up")
  version                         print the KAI version built in
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	if run, ok := components[cmd]; ok {
		// Each component parses the process's own flags: hide the subcommand.
		os.Args = append([]string{os.Args[0]}, args...)
		os.Exit(run())
	}
	switch cmd {
	case "up":
		os.Exit(runUp(args))
	case "wait":
		os.Exit(runWait(args))
	case "version", "--version":
		fmt.Println(kaiVersion)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "kai: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
}
