package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the kernel's clock-tick rate for /proc CPU times (100 on Linux).
const userHZ = 100

// procSample is a process's CPU time used so far and its resident memory.
type procSample struct {
	cpu    time.Duration
	rssKiB int64
}

// cpuSpent is the CPU time the processes sampled in before (and again, in
// the same order, in after) used between the two samples, all together.
func cpuSpent(before, after []procSample) time.Duration {
	var d time.Duration
	for i := range after {
		d += after[i].cpu - before[i].cpu
	}
	return d
}

func sampleProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	// Fields after the parenthesised command: state is field 3, utime 14, stime 15.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return procSample{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	var rss int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return procSample{cpu: time.Duration(utime+stime) * time.Second / userHZ, rssKiB: rss}, nil
}
