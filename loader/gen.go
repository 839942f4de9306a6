// Package loader is the Go side of enforcer's XDP datapath: it loads the
// program, pins all of its state under one bpffs directory, re-uses that
// state on restart, attaches through pinned XDP links, and writes the tables
// the program reads (services, the source table with its atomic swap), and
// reads its counters.
//
// It must not know the config file or the daemon: it takes a
// policy.Policy, compiled by loader/srctable.
package loader

// The generated enforcer_bpfel.go and enforcer_bpfel.o are committed, so
// `go build` needs no clang; `make generate` rebuilds them.
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror -I../bpf/include" -type st_cell -type st_node -type st_class -type service -type dest_key -type counter -type verdict -type reason enforcer ../bpf/enforcer.c
