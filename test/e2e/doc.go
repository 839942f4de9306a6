// Package e2e tests the enforcer datapath end to end: the real XDP program,
// loaded and attached by the loader to a veth in a network namespace, judging
// real TCP connections and UDP datagrams from a client namespace with one
// source address per verdict.
//
// The lab (lab_test.go):
//
//	client ns                                server ns (protected)
//	cli0 192.0.2.2/24 2001:db8::2/64  <-->  srv0 192.0.2.1/24 2001:db8::1/64   XDP here
//	     + one /32 and /128 per source           192.0.2.100, 2001:db8::100 (not protected)
//	                                         tcp 993, udp 443 protected; tcp 8080, udp 8443 open
//
// The tests need root; run them with `go test ./test/e2e/` as root. Each
// test builds its own namespaces and bpffs pin directory and removes them,
// even when it fails.
//
// It drives the enforcer binary, the daemon and the loader as an operator
// would; no package imports it.
package e2e
