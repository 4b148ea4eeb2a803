package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	pidFileName    = "testenv.pid"
	readyFileName  = "ready"
	kubeconfigName = "kubeconfig"
)

// freePorts reserves n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// firstIP returns the first usable address of a CIDR (the kubernetes service IP).
func firstIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ip := make(net.IP, len(n.IP))
	copy(ip, n.IP)
	ip[len(ip)-1]++
	return ip, nil
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no procfs: trust kill(0)
	}
	// The state follows the command name, which is in parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func writeKubeconfig(path, server string, caPEM []byte, user string, cert *clientCert) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert.CertPEM, ClientKeyData: cert.KeyPEM}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "testenv"
	return clientcmd.WriteToFile(*cfg, path)
}

// child is a control-plane component run as a subprocess of this binary.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startChild runs "<self> args..." with output in logPath. The child gets
// SIGKILL if this process dies without stopping it (Pdeathsig); the OS thread
// that started it stays locked until the child has exited, because
// Pdeathsig fires when that thread ends.
func startChild(name, logPath string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	c := &child{name: name, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer logFile.Close()
		cmd := exec.Command(self, args...)
		cmd.Stdout = logFile
		cmd.Stderr = logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		c.cmd = cmd
		if err := cmd.Start(); err != nil {
			started <- err
			close(c.done)
			return
		}
		started <- nil
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return c, nil
}

// stop sends SIGTERM and waits up to grace before killing the child.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		log.Printf("%s did not stop within %s, killing it", c.name, grace)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func runUp(args []string) int {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory (required)")
	logDir := fs.String("log-dir", "", "directory for component logs (default: the state directory)")
	serviceCIDR := fs.String("service-cluster-ip-range", "10.96.0.0/16", "service cluster IP range")
	apiPort := fs.Int("apiserver-port", 0, "kube-apiserver secure port on 127.0.0.1 (0: pick a free one)")
	verbosity := fs.Int("v", 0, "log verbosity of kube-apiserver and kube-controller-manager")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "testenv up: --dir is required")
		return 2
	}
	log.SetPrefix("testenv: ")
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := up(*dir, *logDir, *serviceCIDR, *apiPort, *verbosity); err != nil {
		log.Printf("error: %v", err)
		return 1
	}
	return 0
}

func up(dir, logDir, serviceCIDR string, apiPort, verbosity int) (retErr error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if logDir == "" {
		logDir = dir
	}
	if logDir, err = filepath.Abs(logDir); err != nil {
		return err
	}
	for _, d := range []string{dir, logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	// The pid file comes first so that a caller can find (and stop) us at once.
	pidFile := filepath.Join(dir, pidFileName)
	if pid, err := readPid(pidFile); err == nil && pid != os.Getpid() && pidAlive(pid) {
		return fmt.Errorf("a control plane (pid %d) already runs with state in %s", pid, dir)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	readyFile := filepath.Join(dir, readyFileName)
	defer os.Remove(pidFile)
	defer os.Remove(readyFile)

	// Signals are caught from here on, so that nothing is left behind.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	// Every start is a fresh cluster.
	for _, sub := range []string{"etcd", "pki", "apiserver", "controller-manager", readyFileName} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}

	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClientPort, etcdPeerPort := ports[0], ports[1]
	if apiPort == 0 {
		apiPort = ports[2]
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	serviceIP, err := firstIP(serviceCIDR)
	if err != nil {
		return fmt.Errorf("--service-cluster-ip-range: %w", err)
	}
	p, err := generatePKI(filepath.Join(dir, "pki"), serviceIP)
	if err != nil {
		return fmt.Errorf("generate certificates: %w", err)
	}
	admin, err := p.clientCert("testenv-admin", "system:masters")
	if err != nil {
		return err
	}
	kcmCert, err := p.clientCert("system:kube-controller-manager")
	if err != nil {
		return err
	}
	schedCert, err := p.clientCert("system:kube-scheduler")
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, kubeconfigName)
	kcmKubeconfig := filepath.Join(dir, "pki", "controller-manager.kubeconfig")
	schedKubeconfig := filepath.Join(dir, "pki", "scheduler.kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, p.caPEM, "testenv-admin", admin); err != nil {
		return err
	}
	if err := writeKubeconfig(kcmKubeconfig, server, p.caPEM, "system:kube-controller-manager", kcmCert); err != nil {
		return err
	}
	if err := writeKubeconfig(schedKubeconfig, server, p.caPEM, "system:kube-scheduler", schedCert); err != nil {
		return err
	}

	// etcd, embedded in this process.
	cfg := embed.NewConfig()
	cfg.Name = "testenv"
	cfg.Dir = filepath.Join(dir, "etcd")
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", etcdClientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", etcdPeerPort)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.InitialClusterToken = "testenv"
	cfg.LogLevel = "warn"
	// Without this, embed logs every request as slow (the threshold is 0).
	cfg.WarningUnaryRequestDuration = time.Second
	cfg.LogOutputs = []string{filepath.Join(logDir, "etcd.log")}
	cfg.UnsafeNoFsync = true // throw-away test data
	cfg.QuotaBackendBytes = 2 << 30
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"
	start := time.Now()
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	defer func() {
		etcd.Close()
		log.Printf("etcd stopped")
	}()
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		return errors.New("etcd did not become ready within 60s")
	}
	log.Printf("etcd ready on %s (%s)", clientURL.String(), time.Since(start).Round(time.Millisecond))

	v := strconv.Itoa(verbosity)
	apiserverArgs := []string{
		"apiserver",
		"--etcd-servers=" + clientURL.String(),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// Endpoints may not point to loopback addresses: leave the
		// "kubernetes" Service without endpoints instead of failing every 10s.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(dir, "apiserver"),
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--client-ca-file=" + p.CACert,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.SAPub,
		"--service-account-signing-key-file=" + p.SAKey,
		"--allow-privileged=true",
		"--profiling=false",
		"--v=" + v,
	}
	kcmArgs := []string{
		"controller-manager",
		"--kubeconfig=" + kcmKubeconfig,
		"--authentication-kubeconfig=" + kcmKubeconfig,
		"--authorization-kubeconfig=" + kcmKubeconfig,
		"--secure-port=0",
		"--cert-dir=" + filepath.Join(dir, "controller-manager"),
		"--leader-elect=false",
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.SAKey,
		"--root-ca-file=" + p.CACert,
		"--cluster-signing-cert-file=" + p.CACert,
		"--cluster-signing-key-file=" + p.CAKey,
		"--cluster-name=testenv",
		"--profiling=false",
		"--v=" + v,
	}
	// The default scheduler places pods that name no other scheduler (default-scheduler);
	// pods for another scheduler (runai-scheduler) are left to it.
	schedArgs := []string{
		"scheduler",
		"--kubeconfig=" + schedKubeconfig,
		"--authentication-kubeconfig=" + schedKubeconfig,
		"--authorization-kubeconfig=" + schedKubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--profiling=false",
		"--v=" + v,
	}

	apiserver, err := startChild("kube-apiserver", filepath.Join(logDir, "apiserver.log"), apiserverArgs...)
	if err != nil {
		return err
	}
	log.Printf("kube-apiserver started (pid %d) on %s", apiserver.cmd.Process.Pid, server)
	// The controller manager waits for the apiserver by itself.
	kcm, err := startChild("kube-controller-manager", filepath.Join(logDir, "controller-manager.log"), kcmArgs...)
	if err != nil {
		apiserver.stop(20 * time.Second)
		return err
	}
	log.Printf("kube-controller-manager started (pid %d)", kcm.cmd.Process.Pid)
	sched, err := startChild("kube-scheduler", filepath.Join(logDir, "scheduler.log"), schedArgs...)
	if err != nil {
		kcm.stop(15 * time.Second)
		apiserver.stop(20 * time.Second)
		return err
	}
	log.Printf("kube-scheduler started (pid %d)", sched.cmd.Process.Pid)

	stopAll := func() {
		// The controllers first, so they do not retry against a dying apiserver.
		sched.stop(15 * time.Second)
		kcm.stop(15 * time.Second)
		apiserver.stop(30 * time.Second)
	}

	ready := make(chan error, 1)
	stopProbe := make(chan struct{})
	go func() {
		ready <- waitReady(kubeconfig, "", 5*time.Minute, stopProbe)
	}()

	for {
		select {
		case err := <-ready:
			if err != nil {
				log.Printf("not ready: %v", err)
				continue
			}
			if err := os.WriteFile(readyFile, []byte(server+"\n"), 0o644); err != nil {
				log.Printf("write %s: %v", readyFile, err)
			}
			log.Printf("control plane ready after %s; KUBECONFIG=%s", time.Since(start).Round(time.Millisecond), kubeconfig)
		case s := <-sigs:
			log.Printf("received %s, stopping", s)
			close(stopProbe)
			stopAll()
			return nil
		case <-apiserver.done:
			close(stopProbe)
			stopAll()
			return fmt.Errorf("kube-apiserver exited: %v (see %s)", apiserver.err, filepath.Join(logDir, "apiserver.log"))
		case <-kcm.done:
			close(stopProbe)
			stopAll()
			return fmt.Errorf("kube-controller-manager exited: %v (see %s)", kcm.err, filepath.Join(logDir, "controller-manager.log"))
		case <-sched.done:
			close(stopProbe)
			stopAll()
			return fmt.Errorf("kube-scheduler exited: %v (see %s)", sched.err, filepath.Join(logDir, "scheduler.log"))
		case err := <-etcd.Err():
			close(stopProbe)
			stopAll()
			return fmt.Errorf("etcd failed: %w", err)
		}
	}
}
