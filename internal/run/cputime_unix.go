//go:build unix

package run

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time so far (user and system), for the
// tables' phase's debug log; 0 where the system does not say.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
