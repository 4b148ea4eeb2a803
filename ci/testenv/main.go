// Command testenv runs a small Kubernetes control plane for tests: an embedded
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler, all built
// from the upstream Go modules into this one binary. It runs no kubelet: nodes
// and pod phases come from elsewhere (ci/kai).
//
// Subcommands:
//
//	testenv up --dir DIR [--log-dir DIR]   run the control plane in the foreground
//	testenv wait --dir DIR [--timeout D]   wait until it is ready (exit 0) or fail
//	testenv apiserver [flags]              kube-apiserver (started by "up")
//	testenv controller-manager [flags]     kube-controller-manager (started by "up")
//	testenv scheduler [flags]              kube-scheduler (started by "up")
//	testenv version                        print the bundled Kubernetes version
package main

import (
	"fmt"
	"os"
	_ "time/tzdata" // CronJob time zone support, as in the upstream mains

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/component-base/version"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	schedapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = `usage: testenv <command> [flags]

commands:
  up --dir DIR [--log-dir DIR]    run etcd, kube-apiserver, kube-controller-manager and
                                  kube-scheduler
                                  (foreground; stops on SIGTERM/SIGINT)
  wait --dir DIR [--timeout 120s] wait until the control plane in DIR is ready
  apiserver [flags]               run kube-apiserver (used by "up")
  controller-manager [flags]      run kube-controller-manager (used by "up")
  scheduler [flags]               run kube-scheduler (used by "up")
  version                         print the Kubernetes version built in
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "up":
		os.Exit(runUp(args))
	case "wait":
		os.Exit(runWait(args))
	case "apiserver", "kube-apiserver":
		c := apiserverapp.NewAPIServerCommand()
		c.SetArgs(args)
		os.Exit(cli.Run(c))
	case "controller-manager", "kube-controller-manager":
		c := kcmapp.NewControllerManagerCommand()
		c.SetArgs(args)
		os.Exit(cli.Run(c))
	case "scheduler", "kube-scheduler":
		c := schedapp.NewSchedulerCommand()
		c.SetArgs(args)
		os.Exit(cli.Run(c))
	case "version", "--version":
		fmt.Println(version.Get().GitVersion)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "testenv: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
}
