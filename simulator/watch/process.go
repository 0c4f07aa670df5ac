package watch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reading a process's figures from /proc: read-only, every read bounded.

const (
	// procRoot is where procfs is mounted.
	procRoot = "/proc"
	// dirBatch is how many directory entries one read asks for: /proc/PID/fd of a process at
	// a 1,048,576-fd limit is listed in batches instead of one slice of a million names.
	dirBatch = 1024
	// smallFileMax bounds the read of /proc/PID/limits and /proc/PID/stat: both are under
	// 2 KiB on any kernel.
	smallFileMax = 16 << 10
	// procNetMax bounds the read of /proc/net/tcp{,6} when looking for the listener's inode:
	// 64 MiB is about 400,000 sockets of 150 bytes. The kernel prints listening sockets first,
	// so a listener is always within the bound.
	procNetMax = 64 << 20
	// procNetLineMax is longer than any line of /proc/net/tcp{,6} (150 and 178 bytes).
	procNetLineMax = 4 << 10
	// scanLinksMax bounds the owner search: one readlink of /proc/PID/fd/N costs about a
	// microsecond, so a million keeps a scan of a crowded host near a second.
	scanLinksMax = 1 << 20
	// scanTimeMax bounds the owner search in time, whatever the count.
	scanTimeMax = 3 * time.Second
	// rediscoverAfter spaces failed owner searches: a scrape every second must not pay for
	// a full /proc scan every time nothing is found.
	rediscoverAfter = 5 * time.Second
	// stateListenHex is TCP_LISTEN (10) as /proc/net/tcp prints it.
	stateListenHex = "0A"
)

// readProcess returns the open fds and the fd limit of pid.
func readProcess(pid int, foundBy string) (*Process, error) {
	fds, err := countFDs(pid)
	if err != nil {
		return nil, err
	}
	max, err := maxFDs(pid)
	if err != nil {
		return nil, err
	}
	return &Process{PID: pid, FoundBy: foundBy, OpenFDs: fds, MaxFDs: max}, nil
}

// countFDs counts the entries of /proc/PID/fd.
func countFDs(pid int) (int, error) {
	dir := procRoot + "/" + strconv.Itoa(pid) + "/fd"
	d, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("count open fds of process %d: %w", pid, err)
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(dirBatch)
		n += len(names)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("count open fds of process %d: %w", pid, err)
		}
	}
}

// maxFDs returns the soft RLIMIT_NOFILE of pid from /proc/PID/limits, -1 for unlimited.
func maxFDs(pid int) (int, error) {
	data, err := readSmall(procRoot + "/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return 0, fmt.Errorf("read fd limit of process %d: %w", pid, err)
	}
	n, err := parseMaxOpenFiles(data)
	if err != nil {
		return 0, fmt.Errorf("read fd limit of process %d: %w", pid, err)
	}
	return n, nil
}

// parseMaxOpenFiles finds the soft limit in the "Max open files" line of /proc/PID/limits:
//
//	Limit                     Soft Limit           Hard Limit           Units
//	Max open files            4096                 4096                 files
func parseMaxOpenFiles(data []byte) (int, error) {
	const key = "Max open files"
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		if string(f[0]) == "unlimited" {
			return -1, nil
		}
		n, err := strconv.Atoi(string(f[0]))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("malformed %q line: %q", key, bytes.TrimSpace(line))
		}
		return n, nil
	}
	return 0, fmt.Errorf("no %q line", key)
}

// startTime returns field 22 of /proc/PID/stat, the process's start time in clock ticks after
// boot: with the pid it names one process for the life of the system, so a recycled pid is
// not taken for the owner that died.
func startTime(pid int) (uint64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	const startField = 22 - 3 // fields 3.. follow the ')'
	return strconv.ParseUint(string(f[startField]), 10, 64)
}

// readSmall reads a small /proc file through smallFileMax.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, smallFileMax+1))
	if err != nil {
		return nil, err
	}
	if len(data) > smallFileMax {
		return nil, fmt.Errorf("read %s: longer than %d bytes", path, smallFileMax)
	}
	return data, nil
}

// listenInodes returns the inodes of the LISTEN sockets of port in this network namespace.
// The sockets sampler counts without inodes; /proc/net/tcp{,6} list them, and the search for
// an owner runs once, not at every sample.
func listenInodes(port uint16) (map[uint64]bool, error) {
	inodes := map[uint64]bool{}
	for i, name := range []string{procRoot + "/net/tcp", procRoot + "/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			if i > 0 && errors.Is(err, fs.ErrNotExist) {
				continue // a kernel without IPv6
			}
			return nil, fmt.Errorf("find listening socket of port %d: %w", port, err)
		}
		err = parseListenInodes(io.LimitReader(f, procNetMax), port, inodes)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("find listening socket of port %d: read %s: %w", port, name, err)
		}
	}
	return inodes, nil
}

// parseListenInodes adds to inodes the inode of every LISTEN line of port in r, in the format
// of /proc/net/tcp:
//
//	sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
//	0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1000 0 123456 ...
func parseListenInodes(r io.Reader, port uint16, inodes map[uint64]bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, procNetLineMax), procNetLineMax)
	want := []byte(fmt.Sprintf(":%04X", port))
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 10 {
			return fmt.Errorf("malformed line %q", sc.Bytes())
		}
		if string(f[3]) != stateListenHex || !bytes.HasSuffix(f[1], want) {
			continue
		}
		ino, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil {
			return fmt.Errorf("malformed inode in line %q", sc.Bytes())
		}
		if ino != 0 {
			inodes[ino] = true
		}
	}
	return sc.Err()
}

// errNoOwner says that no process visible to the agent holds the listening socket.
var errNoOwner = errors.New("no process visible here holds the listening socket")

// findHolders returns every process with a file descriptor on one of the socket inodes, in
// ascending pid order (procfs lists pids so), scanning /proc/PID/fd links read-only, within
// scanLinksMax links and scanTimeMax. One process holds a Tomcat's, a Jetty's or `sim serve`'s
// listener; a pre-fork server's master and each of its workers hold the one they share, the
// master first as it is the oldest. Processes whose fds the agent may not read (another
// user's, without CAP_SYS_PTRACE) are skipped and counted in the error.
func findHolders(inodes map[uint64]bool) ([]int, error) {
	deadline := time.Now().Add(scanTimeMax)
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("find owner: %w", err)
	}
	defer d.Close()
	var pids []int
	var procs, denied, links int
	for {
		names, err := d.Readdirnames(dirBatch)
		for _, name := range names {
			pid, perr := strconv.Atoi(name)
			if perr != nil || pid <= 0 {
				continue // not a process: /proc/net, /proc/self, ...
			}
			procs++
			found, n, herr := holds(pid, inodes, scanLinksMax-links)
			links += n
			if found {
				pids = append(pids, pid)
			}
			if errors.Is(herr, fs.ErrPermission) {
				denied++
			}
			if links >= scanLinksMax || time.Now().After(deadline) {
				if len(pids) > 0 {
					return pids, nil // the owner is found; some workers may be missing
				}
				return nil, fmt.Errorf("find owner: scan stopped after %d processes and %d fd links (bounds %d links, %v); pass --pid",
					procs, links, scanLinksMax, scanTimeMax)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("find owner: list %s: %w", procRoot, err)
		}
	}
	if len(pids) > 0 {
		return pids, nil
	}
	return nil, fmt.Errorf("%w (%d processes scanned, %d of them unreadable: run the agent as the app's user or root, in the app's PID namespace, or pass --pid)",
		errNoOwner, procs, denied)
}

// descendants returns the processes below roots (children, their children, ...), read from
// the parent pid of every /proc/PID/stat: a pre-fork server's workers are its master's
// children, and a worker that closed its copy of the listener still calls from its own
// sockets. /proc/PID/task/TID/children would be cheaper but needs CONFIG_PROC_CHILDREN, which
// kernels (this machine's among them) may lack.
func descendants(roots []int) ([]int, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer d.Close()
	children := map[int][]int{}
	for {
		names, err := d.Readdirnames(dirBatch)
		for _, name := range names {
			pid, perr := strconv.Atoi(name)
			if perr != nil || pid <= 0 {
				continue
			}
			ppid, perr := parentPID(pid)
			if perr != nil {
				continue // gone since the listing
			}
			children[ppid] = append(children[ppid], pid)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list processes: %w", err)
		}
	}
	var out []int
	seen := map[int]bool{}
	queue := append([]int(nil), roots...)
	for _, r := range roots {
		seen[r] = true
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out, nil
}

// parentPID returns field 4 of /proc/PID/stat.
func parentPID(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	const ppidField = 4 - 3 // fields 3.. follow the ')'
	return strconv.Atoi(string(f[ppidField]))
}

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid int) ([][]byte, error) {
	data, err := readSmall(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and parentheses:
	// fields are counted from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 22-2 {
		return nil, fmt.Errorf("malformed /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return f, nil
}

// socketOwners maps each inode of want to the process of pids that holds it, reading their
// /proc/PID/fd links, within scanLinksMax links in all; inodes no process of pids holds are
// absent. It stops early once every inode is found.
func socketOwners(pids []int, want map[uint32]int) (map[uint32]int, error) {
	out := make(map[uint32]int, len(want))
	links := 0
	var firstErr error
	for _, pid := range pids {
		dir := procRoot + "/" + strconv.Itoa(pid) + "/fd/"
		d, err := os.Open(dir)
		if err != nil {
			if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
				firstErr = fmt.Errorf("read fds of process %d: %w", pid, err)
			}
			continue
		}
		for links < scanLinksMax && len(out) < len(want) {
			names, err := d.Readdirnames(dirBatch)
			for _, name := range names {
				links++
				target, lerr := os.Readlink(dir + name)
				if lerr != nil {
					continue // closed since the listing
				}
				if ino, ok := socketInode(target); ok && ino <= math.MaxUint32 {
					if _, ok := want[uint32(ino)]; ok {
						out[uint32(ino)] = pid
					}
				}
			}
			if err != nil {
				break // io.EOF, or the process went away
			}
		}
		d.Close()
	}
	return out, firstErr
}

// holds reports whether one of pid's fds is a socket of inodes, reading at most max links, and
// how many it read.
func holds(pid int, inodes map[uint64]bool, max int) (bool, int, error) {
	dir := procRoot + "/" + strconv.Itoa(pid) + "/fd/"
	d, err := os.Open(dir)
	if err != nil {
		return false, 0, err
	}
	defer d.Close()
	n := 0
	for n < max {
		names, err := d.Readdirnames(min(dirBatch, max-n))
		for _, name := range names {
			n++
			target, lerr := os.Readlink(dir + name)
			if lerr != nil {
				continue // closed since the listing
			}
			if ino, ok := socketInode(target); ok && inodes[ino] {
				return true, n, nil
			}
		}
		if err == io.EOF {
			return false, n, nil
		}
		if err != nil {
			return false, n, err
		}
	}
	return false, n, nil
}

// socketInode parses the target of an fd link to a socket, "socket:[123456]".
func socketInode(target string) (uint64, bool) {
	rest, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, "]")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(rest, 10, 64)
	return ino, err == nil
}
