package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clearml-runai/proc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// checkReady reports nil when the apiserver answers /readyz with "ok" and the
// ServiceAccount default/default exists (so pods can be created at once).
func checkReady(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 5 * time.Second
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %v", err)
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("/readyz: %q", body)
	}
	if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("serviceaccount default/default: %v", err)
	}
	return nil
}

// waitReady polls checkReady until it succeeds, the timeout passes, stop is
// closed, or (when pidFile is set) the process named in pidFile has exited.
func waitReady(kubeconfig, pidFile string, timeout time.Duration, stop <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	lastErr := errors.New("not checked yet")
	for {
		var pidErr error
		if pidFile != "" {
			pid, err := proc.ReadPid(pidFile)
			switch {
			case err == nil && !proc.Alive(pid):
				return fmt.Errorf("the control plane process (pid %d) is not running", pid)
			case err != nil && os.IsNotExist(err):
				pidErr = fmt.Errorf("%s does not exist: not started", pidFile)
			case err != nil:
				pidErr = err
			}
		}
		if _, err := os.Stat(kubeconfig); err != nil {
			lastErr = err
			if pidErr != nil {
				lastErr = pidErr
			}
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			lastErr = checkReady(ctx, kubeconfig)
			cancel()
			if lastErr == nil {
				return nil
			}
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("not ready after %s: %v", timeout, lastErr)
		}
		select {
		case <-stop:
			return errors.New("stopped")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func runWait(args []string) int {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory given to \"up\" (required)")
	timeout := fs.Duration("timeout", 120*time.Second, "how long to wait (0: check once)")
	quiet := fs.Bool("q", false, "print nothing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "testenv wait: --dir is required")
		return 2
	}
	kubeconfig := filepath.Join(*dir, kubeconfigName)
	err := waitReady(kubeconfig, filepath.Join(*dir, pidFileName), *timeout, nil)
	if err != nil {
		if !*quiet {
			fmt.Fprintf(os.Stderr, "testenv wait: %v\n", err)
		}
		return 1
	}
	if !*quiet {
		fmt.Println("ready")
	}
	return 0
}
