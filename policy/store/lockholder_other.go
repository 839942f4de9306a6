//go:build !linux

package store

// lockHolder cannot tell who holds a lock outside Linux.
func lockHolder(path string) (pid int, command string) { return 0, "" }
