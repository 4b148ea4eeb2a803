package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/clearml-runai/proc"
)

const (
	pidFileName   = "kai.pid"
	readyFileName = "kai.ready"
	// kwok manages the nodes with this annotation (its own convention): it
	// renews their Leases, keeps them Ready and moves their pods through phases.
	fakeNodeAnnotation = "kwok.x-k8s.io/node=fake"
)

type upOptions struct {
	kubeconfig       string
	dir              string // pid and ready files, webhook certificates
	logDir           string
	schedulerName    string
	queueLabelKey    string
	nodePoolLabelKey string
	defaults         []string // YAML files: objects created when missing
	stages           string   // kwok Stage file
	childEnv         []string
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runUp(args []string) int {
	o := &upOptions{}
	var defaults stringList
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the control plane (required)")
	fs.StringVar(&o.dir, "dir", "", "state directory (required)")
	fs.StringVar(&o.logDir, "log-dir", "", "directory of the component logs (default: the state directory)")
	fs.StringVar(&o.schedulerName, "scheduler-name", "runai-scheduler", "spec.schedulerName of the pods KAI places")
	fs.StringVar(&o.queueLabelKey, "queue-label-key", "runai/queue", "pod label that names the queue")
	fs.StringVar(&o.nodePoolLabelKey, "nodepool-label-key", "runai/node-pool", "label of nodes, pods and queues that names the node pool")
	fs.Var(&defaults, "defaults", "YAML file of objects to create when missing (repeatable)")
	fs.StringVar(&o.stages, "kwok-stages", "", "kwok Stage file: node and pod lifecycle (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.defaults = defaults
	if o.kubeconfig == "" || o.dir == "" || o.stages == "" {
		fmt.Fprintln(os.Stderr, "kai up: --kubeconfig, --dir and --kwok-stages are required")
		return 2
	}
	log.SetPrefix("kai: ")
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := up(o); err != nil {
		log.Printf("error: %v", err)
		return 1
	}
	return 0
}

func absPaths(paths ...*string) error {
	for _, p := range paths {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	return nil
}

func up(o *upOptions) error {
	if o.logDir == "" {
		o.logDir = o.dir
	}
	if err := absPaths(&o.kubeconfig, &o.dir, &o.logDir, &o.stages); err != nil {
		return err
	}
	for i := range o.defaults {
		if err := absPaths(&o.defaults[i]); err != nil {
			return err
		}
	}
	for _, d := range []string{o.dir, o.logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	pidFile := filepath.Join(o.dir, pidFileName)
	readyFile := filepath.Join(o.dir, readyFileName)
	if err := proc.ClaimPidFile(pidFile); err != nil {
		return fmt.Errorf("KAI already runs with state in %s: %w", o.dir, err)
	}
	_ = os.Remove(readyFile)
	defer os.Remove(pidFile)
	defer os.Remove(readyFile)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		s := <-sigs
		log.Printf("received %s, stopping", s)
		cancel()
	}()

	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// The components find the cluster through KUBECONFIG, as in-cluster
	// programs find it through their ServiceAccount.
	o.childEnv = []string{"KUBECONFIG=" + o.kubeconfig}

	start := time.Now()
	if err := applyCRDs(ctx, cfg); err != nil {
		return err
	}
	if err := applyConfig(ctx, dyn, o); err != nil {
		return err
	}
	objs, err := readObjects(o.defaults)
	if err != nil {
		return err
	}
	if err := createMissing(ctx, cfg, objs); err != nil {
		return err
	}
	log.Printf("KAI CRDs and %d default objects in place (%s)", len(objs), time.Since(start).Round(time.Millisecond))

	ports, err := proc.FreePorts(7)
	if err != nil {
		return err
	}
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	tmpDir := filepath.Join(o.dir, "admission")
	caPEM, err := webhookCerts(tmpDir)
	if err != nil {
		return fmt.Errorf("webhook certificates: %w", err)
	}

	type component struct {
		name  string
		env   []string
		args  []string
		ready string // URL answering 200 once it serves
	}
	list := []component{
		{name: "podgrouper", args: []string{
			"podgrouper",
			"--scheduler-name=" + o.schedulerName,
			"--queue-label-key=" + o.queueLabelKey,
			"--nodepool-label-key=" + o.nodePoolLabelKey,
			"--metrics-bind-address=" + addr(0),
			"--health-probe-bind-address=" + addr(1),
		}, ready: "http://" + addr(1) + "/readyz"},
		{name: "binder", args: []string{
			"binder",
			"--scheduler-name=" + o.schedulerName,
			"--metrics-bind-address=" + addr(2),
			"--health-probe-bind-address=" + addr(3),
		}, ready: "http://" + addr(2) + "/metrics"}, // it registers no health checks
		// The webhook server reads its certificate from <TMPDIR>/k8s-webhook-server/serving-certs.
		{name: "admission", env: []string{"TMPDIR=" + tmpDir}, args: []string{
			"admission",
			"--scheduler-name=" + o.schedulerName,
			"--gpu-sharing-enabled=true",
			"--metrics-bind-address=" + addr(4),
			"--health-probe-bind-address=" + addr(5),
			"--webhook-addr=" + strconv.Itoa(ports[6]),
		}, ready: "http://" + addr(5) + "/readyz"},
		{name: "kwok", args: []string{
			"kwok",
			"--kubeconfig=" + o.kubeconfig,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + fakeNodeAnnotation,
			"--node-lease-duration-seconds=40",
			"--config=" + o.stages,
		}},
	}
	children := map[string]*proc.Child{}
	stopAll := func(sh *shards) {
		if sh != nil {
			sh.stopAll()
		}
		for _, c := range children {
			c.Stop(15 * time.Second)
		}
	}
	for _, c := range list {
		child, err := startComponent(c.name, filepath.Join(o.logDir, c.name+".log"), append(o.childEnv, c.env...), c.args...)
		if err != nil {
			stopAll(nil)
			return err
		}
		children[c.name] = child
	}
	sh := newShards(o, dyn)
	sh.watch(ctx)
	defer func() {
		stopAll(sh)
		cleanup, done := context.WithTimeout(context.Background(), 5*time.Second)
		unregisterWebhooks(cleanup, cs)
		done()
		log.Printf("stopped")
	}()
	if err := registerWebhooks(ctx, cs, ports[6], caPEM, o.schedulerName); err != nil {
		return fmt.Errorf("register the admission webhooks: %w", err)
	}

	readyURLs := map[string]string{}
	for _, c := range list {
		if c.ready != "" {
			readyURLs[c.name] = c.ready
		}
	}
	readyCh := make(chan error, 1)
	go func() { readyCh <- waitComponents(ctx, cs, readyURLs, sh, 3*time.Minute) }()

	exited := make(chan *proc.Child, len(children))
	for _, c := range children {
		go func(c *proc.Child) {
			<-c.Done
			exited <- c
		}(c)
	}
	for {
		select {
		case err := <-readyCh:
			if err != nil {
				return err
			}
			if err := os.WriteFile(readyFile, []byte("ready\n"), 0o644); err != nil {
				return err
			}
			log.Printf("KAI ready after %s (scheduler name %s, queue label %s, node-pool label %s)",
				time.Since(start).Round(time.Millisecond), o.schedulerName, o.queueLabelKey, o.nodePoolLabelKey)
		case c := <-exited:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s exited: %v (see %s)", c.Name, c.Err, filepath.Join(o.logDir, c.Name+".log"))
		case err := <-sh.failed:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// startComponent runs a component and says so.
func startComponent(name, logPath string, env []string, args ...string) (*proc.Child, error) {
	c, err := proc.Start(name, logPath, env, args...)
	if err == nil {
		log.Printf("%s started (pid %d, log %s)", name, c.Pid(), logPath)
	}
	return c, err
}

func httpOK(url string) bool {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitComponents returns nil once every component answers, a scheduler runs
// for every shard and every fake node is Ready.
func waitComponents(ctx context.Context, cs kubernetes.Interface, urls map[string]string, sh *shards, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	lastReport := time.Now()
	for {
		waiting := []string{}
		for name, url := range urls {
			if !httpOK(url) {
				waiting = append(waiting, name)
			}
		}
		endpoints := sh.endpoints()
		if len(endpoints) == 0 {
			waiting = append(waiting, "a scheduler (no SchedulingShard yet)")
		}
		for name, url := range endpoints {
			if !httpOK(url) {
				waiting = append(waiting, "scheduler["+name+"]")
			}
		}
		if notReady, err := notReadyNodes(ctx, cs); err != nil {
			waiting = append(waiting, err.Error())
		} else if len(notReady) > 0 {
			waiting = append(waiting, "nodes "+strings.Join(notReady, ","))
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s, waiting for: %s", timeout, strings.Join(waiting, "; "))
		}
		if time.Since(lastReport) > 10*time.Second {
			log.Printf("waiting for: %s", strings.Join(waiting, "; "))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return errors.New("stopped")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func notReadyNodes(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	key, value, _ := strings.Cut(fakeNodeAnnotation, "=")
	var out []string
	for _, n := range nodes.Items {
		if n.Annotations[key] != value {
			continue
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			out = append(out, n.Name)
		}
	}
	return out, nil
}
