package lease

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// thisMachine names the process table this process's PID belongs to: the
// host name, and on Linux the boot and the PID namespace, since containers
// on one host (or a host after a reboot) reuse the same PIDs.
func thisMachine() string {
	host, _ := os.Hostname()
	id := host
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		id += "/" + string(bytes.TrimSpace(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		id += "/" + ns
	}
	return id
}

// procStat reads the fields of /proc/PID/stat after the command name:
// state first, start time at index 19. ok is false where there is no
// /proc; fields is nil when the process does not exist.
func procStat(pid int) (fields []string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if _, serr := os.Stat("/proc/self/stat"); serr != nil {
			return nil, false
		}
		return nil, true
	}
	// The command name, in parentheses, may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, true
	}
	return strings.Fields(string(b[i+1:])), true
}

// processStart is a process's start time as /proc has it (clock ticks
// since boot); "" where there is no /proc.
func processStart(pid int) string {
	if f, ok := procStat(pid); ok && len(f) > 19 {
		return f[19]
	}
	return ""
}

// gone reports whether process pid of this machine has ended (or exited
// and not been reaped), or is another process that reused the PID.
func gone(pid int, start string) bool {
	if pid <= 0 {
		return false
	}
	if f, ok := procStat(pid); ok {
		if f == nil {
			return true
		}
		if len(f) > 19 {
			return f[0] == "Z" || f[0] == "X" || (start != "" && f[19] != start)
		}
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}
