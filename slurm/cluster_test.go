package slurm

// A real single-node Slurm for tests: Debian's munged, slurmctld and slurmd run in the
// foreground as children of the test process, everything (config, state, spool, logs, the
// munge key and socket) under one temporary directory, with the settings
// ../shared/SLURM.md measured for sandboxes without systemd or cgroups. Slurm's ports
// 6817/6818 are fixed, so one fixture runs at a time on a host (a lock file serialises
// test processes).

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cluster is a running single-node Slurm.
type cluster struct {
	dir, conf, node string
	env             []string // the test process's environment plus SLURM_CONF
	procs           []*daemon
}

type daemon struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returned (the daemon is reaped)
	err    error         // cmd.Wait's result, set before exited is closed
}

// slurmTools are the programs the fixture needs (Debian: slurmctld slurmd slurm-client munge).
var slurmTools = []string{"munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo"}

// lookTool finds a tool on PATH or in /usr/sbin (daemons live there, not always on PATH).
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not installed", name)
	}
	return p, nil
}

// startCluster brings up munged, slurmctld and slurmd, or skips the test with one line when
// the packages, root or the ports are missing. Every daemon is stopped at cleanup.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real Slurm (munged, slurmctld, slurmd)")
	}
	for _, tool := range slurmTools {
		if _, err := lookTool(tool); err != nil {
			t.Skipf("no Slurm: %v (apt-get install slurmctld slurmd slurm-client munge)", err)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the Slurm fixture runs slurmd as root (SlurmdUser=root)")
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "pollab-slurm-fixture.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	// Ports 6817/6818: one fixture per host. Wait a while for another test process's fixture.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			t.Skipf("another Slurm fixture holds %s for 3 minutes: %v", lock.Name(), err)
		}
	}
	for _, port := range []string{"6817", "6818"} {
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			t.Skipf("Slurm's port %s is in use (another slurmctld or slurmd?): %v", port, err)
		}
		l.Close()
	}

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	dir, err := os.MkdirTemp("", "pollab-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &cluster{dir: dir, conf: filepath.Join(dir, "slurm.conf"), node: host}
	c.env = append(os.Environ(), "SLURM_CONF="+c.conf)
	t.Cleanup(func() { c.stop(t) })
	for _, d := range []string{"munge", "state", "spool", "log"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(dir, "munge", "munge.key")
	c.run(t, "mungekey", "--create", "--keyfile", key)
	if err := os.Chmod(key, 0o400); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "munge", "munge.socket.2")
	c.start(t, "munged", "-F", "--force", "--key-file", key, "--socket", sock,
		"--pid-file", filepath.Join(dir, "munge", "munged.pid"), "--log-file", filepath.Join(dir, "log", "munged.log"),
		"--seed-file", filepath.Join(dir, "munge", "munged.seed"))
	c.waitFor(t, "munge socket", 10*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })

	conf := fmt.Sprintf(`ClusterName=pollabtest
SlurmctldHost=%[1]s
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=%[2]s
StateSaveLocation=%[3]s/state
SlurmdSpoolDir=%[3]s/spool
SlurmctldPidFile=%[3]s/slurmctld.pid
SlurmdPidFile=%[3]s/slurmd.pid
SlurmctldLogFile=%[3]s/log/slurmctld.log
SlurmdLogFile=%[3]s/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
MinJobAge=300
NodeName=%[1]s CPUs=%[4]d RealMemory=%[5]d State=UNKNOWN
PartitionName=test Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, sock, dir, runtime.NumCPU(), memTotalMB(t)-512)
	if err := os.WriteFile(c.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.start(t, "slurmctld", "-D", "-i", "-f", c.conf)
	c.waitFor(t, "slurmctld (scontrol ping)", 20*time.Second, func() bool {
		out, _ := c.output("scontrol", "ping")
		return strings.Contains(out, "UP")
	})
	c.start(t, "slurmd", "-D", "-N", host, "-f", c.conf)
	c.waitFor(t, "node idle (sinfo)", 30*time.Second, func() bool {
		out, _ := c.output("sinfo", "-hNo", "%T")
		if strings.Contains(out, "drain") {
			reason, _ := c.output("sinfo", "-R")
			t.Fatalf("node drained: %s (log: %s)", reason, filepath.Join(dir, "log", "slurmd.log"))
		}
		return strings.TrimSpace(out) == "idle"
	})
	return c
}

func memTotalMB(t testing.TB) int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fs := strings.Fields(s.Text()); len(fs) >= 2 && fs[0] == "MemTotal:" {
			kb, err := strconv.Atoi(fs[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// run runs a tool to completion, failing the test on error.
func (c *cluster) run(t testing.TB, tool string, args ...string) string {
	t.Helper()
	out, err := c.output(tool, args...)
	if err != nil {
		t.Fatalf("%s %s: %v: %s", tool, strings.Join(args, " "), err, out)
	}
	return out
}

// output runs a tool with SLURM_CONF set and returns its combined output.
func (c *cluster) output(tool string, args ...string) (string, error) {
	p, err := lookTool(tool)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(p, args...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// start runs a daemon in the foreground as a child of the test process.
func (c *cluster) start(t testing.TB, tool string, args ...string) {
	t.Helper()
	p, err := lookTool(tool)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p, args...)
	cmd.Env = c.env
	log, err := os.Create(filepath.Join(c.dir, "log", tool+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", tool, err)
	}
	d := &daemon{name: tool, cmd: cmd, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); log.Close(); close(d.exited) }()
	c.procs = append(c.procs, d)
}

func (c *cluster) waitFor(t testing.TB, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		for _, d := range c.procs {
			select {
			case <-d.exited:
				t.Fatalf("%s exited while waiting for %s: %v (logs in %s)", d.name, what, d.err, filepath.Join(c.dir, "log"))
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s (logs in %s)", what, limit, filepath.Join(c.dir, "log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts Slurm down (scontrol shutdown), then munged (SIGTERM), each by the PID the
// fixture started, KILLs what has not exited after 20 s, and checks in /proc that no daemon
// is left, not even as a zombie.
func (c *cluster) stop(t testing.TB) {
	c.output("scontrol", "shutdown")
	for i := len(c.procs) - 1; i >= 0; i-- {
		d := c.procs[i]
		if d.name == "munged" {
			d.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-d.exited:
		case <-time.After(20 * time.Second):
			t.Errorf("%s (pid %d) did not exit: killed", d.name, d.cmd.Process.Pid)
			d.cmd.Process.Kill()
			<-d.exited
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid)); err == nil {
			t.Errorf("%s (pid %d) still in /proc after stop: %s", d.name, d.cmd.Process.Pid, strings.TrimSpace(string(b)))
		}
	}
	// Job steps (slurmstepd) are slurmd's grandchildren, reaped by PID 1: none may still run.
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if fs := strings.Fields(string(b)); err == nil && len(fs) > 2 && fs[1] == "(slurmstepd)" && fs[2] != "Z" {
			t.Errorf("slurmstepd still running after shutdown: %s", strings.TrimSpace(string(b)))
		}
	}
	if !t.Failed() {
		os.RemoveAll(c.dir)
	} else {
		t.Logf("Slurm fixture directory kept: %s", c.dir)
	}
}
