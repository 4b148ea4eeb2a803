package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/clearml-runai/proc"
	"github.com/clearml-runai/proc/certs"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	pidFileName    = "testenv.pid"
	readyFileName  = "ready"
	kubeconfigName = "kubeconfig"
)

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

func writeKubeconfig(path, server string, caPEM []byte, user string, cert certs.Pair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert.CertPEM, ClientKeyData: cert.KeyPEM}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "testenv"
	return clientcmd.WriteToFile(*cfg, path)
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
	if err := proc.ClaimPidFile(pidFile); err != nil {
		return fmt.Errorf("a control plane already runs with state in %s: %w", dir, err)
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

	ports, err := proc.FreePorts(3)
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
	if err := writeKubeconfig(kubeconfig, server, p.ca.CertPEM, "testenv-admin", admin); err != nil {
		return err
	}
	if err := writeKubeconfig(kcmKubeconfig, server, p.ca.CertPEM, "system:kube-controller-manager", kcmCert); err != nil {
		return err
	}
	if err := writeKubeconfig(schedKubeconfig, server, p.ca.CertPEM, "system:kube-scheduler", schedCert); err != nil {
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

	apiserver, err := proc.Start("kube-apiserver", filepath.Join(logDir, "apiserver.log"), nil, apiserverArgs...)
	if err != nil {
		return err
	}
	log.Printf("kube-apiserver started (pid %d) on %s", apiserver.Pid(), server)
	// The controller manager waits for the apiserver by itself.
	kcm, err := proc.Start("kube-controller-manager", filepath.Join(logDir, "controller-manager.log"), nil, kcmArgs...)
	if err != nil {
		apiserver.Stop(20 * time.Second)
		return err
	}
	log.Printf("kube-controller-manager started (pid %d)", kcm.Pid())
	sched, err := proc.Start("kube-scheduler", filepath.Join(logDir, "scheduler.log"), nil, schedArgs...)
	if err != nil {
		kcm.Stop(15 * time.Second)
		apiserver.Stop(20 * time.Second)
		return err
	}
	log.Printf("kube-scheduler started (pid %d)", sched.Pid())

	stopAll := func() {
		// The controllers first, so they do not retry against a dying apiserver.
		sched.Stop(15 * time.Second)
		kcm.Stop(15 * time.Second)
		apiserver.Stop(30 * time.Second)
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
		case <-apiserver.Done:
			close(stopProbe)
			stopAll()
			return fmt.Errorf("kube-apiserver exited: %v (see %s)", apiserver.Err, filepath.Join(logDir, "apiserver.log"))
		case <-kcm.Done:
			close(stopProbe)
			stopAll()
			return fmt.Errorf("kube-controller-manager exited: %v (see %s)", kcm.Err, filepath.Join(logDir, "controller-manager.log"))
		case <-sched.Done:
			close(stopProbe)
			stopAll()
			return fmt.Errorf("kube-scheduler exited: %v (see %s)", sched.Err, filepath.Join(logDir, "scheduler.log"))
		case err := <-etcd.Err():
			close(stopProbe)
			stopAll()
			return fmt.Errorf("etcd failed: %w", err)
		}
	}
}
