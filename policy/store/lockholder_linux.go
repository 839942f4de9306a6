package store

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockHolder finds who holds a lock on path in /proc/locks, for the error
// message only: 0 and "" when it cannot tell (another pid namespace shows
// no pid, for instance).
func lockHolder(path string) (pid int, command string) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, ""
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	dev := uint64(st.Dev) // uint32 on some architectures
	inoOnly := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1311 0 EOF"; lines with
		// "->" are waiters, not holders.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] == "->" {
			continue
		}
		p, err := strconv.Atoi(fields[4])
		if err != nil || p <= 0 {
			continue
		}
		id := strings.Split(fields[5], ":")
		if len(id) != 3 {
			continue
		}
		ino, err := strconv.ParseUint(id[2], 10, 64)
		if err != nil || ino != st.Ino {
			continue
		}
		maj, err1 := strconv.ParseUint(id[0], 16, 32)
		mnr, err2 := strconv.ParseUint(id[1], 16, 32)
		if err1 == nil && err2 == nil && uint64(unix.Major(dev)) == maj && uint64(unix.Minor(dev)) == mnr {
			return p, commandName(p)
		}
		// Overlay and btrfs can report another device number than stat
		// does; an inode match alone is a fair guess.
		if inoOnly == 0 {
			inoOnly = p
		}
	}
	if inoOnly != 0 {
		return inoOnly, commandName(inoOnly)
	}
	return 0, ""
}

func commandName(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
