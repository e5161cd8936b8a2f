//go:build !unix

package run

import "time"

// cpuTime is 0 where getrusage does not exist (the debug log's CPU times
// then read 0).
func cpuTime() time.Duration { return 0 }
