// Package proc runs the components of a local control plane as child
// processes of this binary and finds such processes again by their pid file.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Child is a component run as "<this binary> args...".
type Child struct {
	Name string
	Cmd  *exec.Cmd
	Done chan struct{} // closed when it has exited
	Err  error         // its exit error, once Done is closed
}

// Start runs "<this binary> args..." with env added to this process's
// environment and its output appended to logPath. The child gets SIGKILL if
// this process dies without stopping it (Pdeathsig, which fires when the
// starting OS thread ends: that thread stays locked until the child exits).
func Start(name, logPath string, env []string, args ...string) (*Child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c := &Child{Name: name, Done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer out.Close()
		cmd := exec.Command(self, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		c.Cmd = cmd
		if err := cmd.Start(); err != nil {
			started <- err
			close(c.Done)
			return
		}
		started <- nil
		c.Err = cmd.Wait()
		close(c.Done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Stop sends SIGTERM and kills the child if it has not exited after grace.
func (c *Child) Stop(grace time.Duration) {
	select {
	case <-c.Done:
		return
	default:
	}
	_ = c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.Done:
	case <-time.After(grace):
		log.Printf("%s did not stop within %s, killing it", c.Name, grace)
		_ = c.Cmd.Process.Kill()
		<-c.Done
	}
}

// FreePorts reserves n distinct free TCP ports on 127.0.0.1.
func FreePorts(n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
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

// ReadPid reads the pid written in path.
func ReadPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// ClaimPidFile writes this process's pid to path, unless a live process
// already holds it (then the error names that pid).
func ClaimPidFile(path string) error {
	if pid, err := ReadPid(path); err == nil && pid != os.Getpid() && Alive(pid) {
		return fmt.Errorf("pid %d already runs with %s", pid, path)
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}
