package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestProblems feeds one kind of mistake per case and asserts every
// reported line: file, line, column, field and what the message says.
func TestProblems(t *testing.T) {
	const head = "interfaces: [eth0]\n" // line 1
	for _, tc := range []struct {
		name string
		in   string
		want []string // each a whole problem line, or its prefix ending in "..."
	}{
		// YAML itself.
		{"syntax", "interfaces: [eth0]\nservices:\n  - name: imap\n    ports: [1\n",
			[]string{"enforcer.yaml:4: invalid YAML: did not find expected ',' or ']' in the [ ] list that starts here; check the indentation..."}},
		{"bad indentation", "interfaces: [eth0]\nservices:\n  - name: imap\n   ports: [1]\n",
			[]string{"enforcer.yaml:3: invalid YAML: did not find expected '-' indicator in the list that starts here; check the indentation..."}},
		{"unquoted IPv6 in a flow list", "interfaces: [eth0]\ndeny: [::1]\n",
			[]string{`enforcer.yaml:2: invalid YAML: did not find expected node content; check the indentation (spaces, not tabs), and quote values that contain ": " or " #" or start with one of : [ ] { } * & ! | > ' " % @ (e.g. "::1")`}},
		{"unquoted IPv6 on line 1", "deny: [::1]\n",
			[]string{`enforcer.yaml:1: invalid YAML: did not find expected node content...`}},
		{"unterminated mapping", "interfaces: [eth0]\nlog: {format: text\n",
			[]string{`enforcer.yaml:2: invalid YAML: did not find expected ',' or '}' in the { } mapping that starts here...`}},
		{"tab indentation", "interfaces:\n\t- eth0\n",
			[]string{"enforcer.yaml:2: invalid YAML: found character that cannot start any token; check the indentation (spaces, not tabs)..."}},
		{"two documents", head + "---\nservices: []\n",
			[]string{"enforcer.yaml:3:1: a second YAML document (after ---): the configuration is one document; merge them"}},
		{"not a mapping", "- eth0\n",
			[]string{"enforcer.yaml:1:1: want a mapping with the fields interfaces, state_dir, bpffs_dir, geoip, log, admin, proxy, devices, transforms, metrics, deny, services, got a list"}},
		{"alias cycle", head + "services: &s [*s]\n",
			[]string{"enforcer.yaml:1:1: an alias refers to the value that contains it; aliases must point outside themselves"}},
		{"alias bomb", head + "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
			[]string{"enforcer.yaml:1:1: the document expands to more than 1048576 values through aliases; write it with fewer aliases"}},
		{"merge key", head + "base: &b {ports: [1]}\nservices:\n  - <<: *b\n    name: x\n",
			[]string{
				`enforcer.yaml:2:1: base: unknown field; the fields here are interfaces, state_dir, bpffs_dir, geoip, log, admin, proxy, devices, transforms, metrics, deny, services`,
				`enforcer.yaml:4:5: services[0]: merge keys (<<) are not supported; write the fields out (an alias such as *office works for a whole value)`,
				`enforcer.yaml:4:5: services[0].ports: required for a service that is not one of the defaults...`,
			}},

		// Keys.
		{"unknown top-level key", head + "metric: {listen: \"\"}\n",
			[]string{`enforcer.yaml:2:1: metric: unknown field; did you mean "metrics"?`}},
		{"unknown service key", head + "services:\n  - name: imap\n    countires: [DE]\n",
			[]string{`enforcer.yaml:4:5: services[0].countires: unknown field; did you mean "countries"?`}},
		{"alias for a field name", head + "services:\n  - name: imap\n    whitelist: [192.0.2.1]\n",
			[]string{`enforcer.yaml:4:5: services[0].whitelist: unknown field; did you mean "allow"?`}},
		{"unknown nested key", head + "geoip:\n  path: /x.mmdb\n  required: yes\n",
			[]string{
				`enforcer.yaml:3:3: geoip.path: unknown field; did you mean "database"?`,
				`enforcer.yaml:4:13: geoip.required: want true or false, got "yes"`,
			}},
		{"duplicate key", head + "log:\n  level: info\n  level: debug\n",
			[]string{"enforcer.yaml:4:3: log.level: set twice (first at line 3); remove one"}},
		{"duplicate top-level key", head + "interfaces: [eth1]\n",
			[]string{"enforcer.yaml:2:1: interfaces: set twice (first at line 1); remove one"}},

		// Types.
		{"list for a mapping", head + "geoip: [a]\n",
			[]string{"enforcer.yaml:2:8: geoip: want a mapping with the fields database, required, got a list"}},
		{"scalar for a list", head + "services:\n  - name: imap\n    ports: 993\n",
			[]string{"enforcer.yaml:4:12: services[0].ports: want a list, got the number 993; write e.g. [143, 993]"}},
		{"number for a string", head + "state_dir: 17\n",
			[]string{`enforcer.yaml:2:12: state_dir: want a string, got the number 17; quote it: "17"`}},
		{"string for a bool", head + "services:\n  - name: imap\n    enabled: \"false\"\n",
			[]string{`enforcer.yaml:4:14: services[0].enabled: want true or false, got "false"`}},
		{"service not a mapping", head + "services: [imap]\n",
			[]string{`enforcer.yaml:2:12: services[0]: want a mapping such as {name: imap, countries: [DE]}, got "imap"`}},

		// Settings.
		{"interfaces missing", "state_dir: /srv\n",
			[]string{"enforcer.yaml:1:1: interfaces: required: list the interfaces to guard, e.g. interfaces: [{name: eth0}]"}},
		{"interfaces empty", "interfaces: []\n",
			[]string{"enforcer.yaml:1:1: interfaces: required: list the interfaces to guard, e.g. interfaces: [{name: eth0}]"}},
		{"empty file", "",
			[]string{"enforcer.yaml: interfaces: required: list the interfaces to guard, e.g. interfaces: [{name: eth0}]"}},
		{"bad interface", "interfaces:\n  - name: eth0/1\n  - {xdp_mode: native}\n  - name: eth1\n    xdp_mode: driver\n  - eth2\n  - eth2\n",
			[]string{
				`enforcer.yaml:2:11: interfaces[0].name: "eth0/1" is not an interface name (1 to 15 characters, no '/', ':' or spaces); ` + "`ip link` lists them",
				`enforcer.yaml:3:5: interfaces[1]: name: required, e.g. {name: eth0, xdp_mode: auto}`,
				`enforcer.yaml:5:15: interfaces[2].xdp_mode: "driver" is not an XDP mode; use one of auto, native, generic`,
				`enforcer.yaml:7:5: interfaces[4]: "eth2" is listed twice (first at line 6); remove one`,
			}},
		{"upper-case enum", head + "log: {format: JSON, level: verbose}\n",
			[]string{
				`enforcer.yaml:2:15: log.format: "JSON": write it in lower case, "json"`,
				`enforcer.yaml:2:28: log.level: "verbose" is not a log level; use one of debug, info, warn, error`,
			}},
		{"relative paths", head + "state_dir: var/lib/enforcer\nbpffs_dir: \"\"\nadmin: {socket: ./enforcer.sock}\ngeoip: {database: geo.mmdb}\n",
			[]string{
				`enforcer.yaml:2:12: state_dir: "var/lib/enforcer" is not an absolute path; the daemon runs from /, so write it out, e.g. "/var/lib/enforcer"`,
				`enforcer.yaml:3:12: bpffs_dir: empty; give an absolute path or remove the field for the default`,
				`enforcer.yaml:4:17: admin.socket: "./enforcer.sock" is not an absolute path...`,
				`enforcer.yaml:5:19: geoip.database: "geo.mmdb" is not an absolute path...`,
			}},
		{"long value cut short", head + "state_dir: " + strings.Repeat("a", 200) + "\n",
			[]string{`enforcer.yaml:2:12: state_dir: "` + strings.Repeat("a", 60) + `...` + strings.Repeat("a", 10) + `" is not an absolute path...`}},
		{"geoip required without database", head + "geoip:\n  database: \"\"\n  required: true\n",
			[]string{"enforcer.yaml:4:3: geoip.required: true, but geoip.database is empty; give the database path or set required: false"}},
		{"metrics listen a number", head + "metrics: {listen: 9740}\n",
			[]string{`enforcer.yaml:2:19: metrics.listen: "9740" is not host:port; write e.g. 127.0.0.1:9740, [::1]:9740, or "" to disable metrics`}},
		{"metrics listen not host:port", head + "metrics: {listen: \"localhost\"}\n",
			[]string{`enforcer.yaml:2:19: metrics.listen: "localhost" is not host:port; write e.g. 127.0.0.1:9740, [::1]:9740, or "" to disable metrics`}},
		{"metrics listen bad port", head + "metrics: {listen: \"127.0.0.1:http\"}\n",
			[]string{`enforcer.yaml:2:19: metrics.listen: "127.0.0.1:http" is not host:port...`}},

		// Prefixes.
		{"bad CIDR", head + "services:\n  - name: imap\n    allow:\n      - 192.0.2.0/24\n      - 10.0.0.300/8\n",
			[]string{`enforcer.yaml:6:9: services[0].allow[1]: "10.0.0.300/8" is not a CIDR prefix (want e.g. 192.0.2.0/24 or 2001:db8::/32)`}},
		{"host bits set", head + "deny: [10.0.0.1/8, \"2001:db8::1/32\"]\n",
			[]string{
				`enforcer.yaml:2:8: deny[0]: "10.0.0.1/8" has host bits set; write 10.0.0.0/8 for the network, or 10.0.0.1/32 for the one host`,
				`enforcer.yaml:2:20: deny[1]: "2001:db8::1/32" has host bits set; write 2001:db8::/32 for the network, or 2001:db8::1/128 for the one host`,
			}},
		{"prefix length", head + "deny: [192.0.2.0/33]\n",
			[]string{`enforcer.yaml:2:8: deny[0]: "192.0.2.0/33" is not a CIDR prefix (want e.g. 192.0.2.0/24 or 2001:db8::/32)`}},
		{"zone", head + "deny: [\"fe80::1%eth0\"]\n",
			[]string{`enforcer.yaml:2:8: deny[0]: "fe80::1%eth0" is not a CIDR prefix...`}},
		{"number for a prefix", head + "deny: [10]\n",
			[]string{`enforcer.yaml:2:8: deny[0]: "10" is not a CIDR prefix...`}},
		{"entry mapping", head + "deny:\n  - {comment: no cidr}\n  - {cidr: 192.0.2.0/24, note: x}\n  - {cidr: [1]}\n",
			[]string{
				`enforcer.yaml:3:5: deny[0]: cidr: required, e.g. {cidr: 192.0.2.0/24, comment: office}`,
				`enforcer.yaml:4:26: deny[1].note: unknown field; did you mean "comment"?`,
				`enforcer.yaml:5:12: deny[2].cidr: want a CIDR prefix or address range (want e.g. 192.0.2.0/24, 2001:db8::/32 or 192.0.2.1-192.0.2.9), got a list`,
			}},
		{"duplicate prefix", head + "deny:\n  - 192.0.2.1\n  - {cidr: 192.0.2.1/32, comment: again}\n  - ::ffff:192.0.2.1/128\n",
			[]string{
				`enforcer.yaml:4:12: deny[1]: 192.0.2.1/32 is listed twice (first at line 3); remove one`,
				`enforcer.yaml:5:5: deny[2]: ::ffff:192.0.2.1/128 is listed twice (first at line 3); remove one`,
			}},
		{"destination mapping", head + "services:\n  - name: imap\n    destinations: [{cidr: 192.0.2.1/32}]\n",
			[]string{`enforcer.yaml:4:20: services[0].destinations[0]: want a CIDR prefix string (want e.g. 192.0.2.0/24 or 2001:db8::/32), got a mapping; destinations take no comments (use a # comment)`}},

		// Countries.
		{"lower-case country", head + "services:\n  - name: imap\n    countries: [de]\n",
			[]string{`enforcer.yaml:4:17: services[0].countries[0]: "de": country codes are upper case; write DE`}},
		{"bad countries", head + "services:\n  - name: imap\n    countries: [UK, DEU, QQ, 49, DE, DE]\n",
			[]string{
				`enforcer.yaml:4:17: services[0].countries[0]: "UK": the ISO 3166-1 code of the United Kingdom is GB`,
				`enforcer.yaml:4:21: services[0].countries[1]: "DEU" is not a country code; want an ISO 3166-1 alpha-2 code in upper case, e.g. DE`,
				"enforcer.yaml:4:26: services[0].countries[2]: \"QQ\" is not an assigned ISO 3166-1 alpha-2 code; `enforcer geoip lookup IP` shows the code of an address",
				`enforcer.yaml:4:30: services[0].countries[3]: "49" is not a country code...`,
				`enforcer.yaml:4:38: services[0].countries[5]: DE is listed twice (first at line 4); remove one`,
			}},

		// Ports and protocols.
		{"bad ports", head + "services:\n  - name: imap\n    ports: [0, 70000, -1, \"993\", 0x1bb, 0143, 8000-8010, 1.5, 143, 143]\n",
			[]string{
				`enforcer.yaml:4:13: services[0].ports[0]: port 0 is out of range 1..65535`,
				`enforcer.yaml:4:16: services[0].ports[1]: port 70000 is out of range 1..65535`,
				`enforcer.yaml:4:23: services[0].ports[2]: port -1 is out of range 1..65535`,
				`enforcer.yaml:4:27: services[0].ports[3]: want a port number 1..65535, got the string "993"; write it without quotes`,
				`enforcer.yaml:4:34: services[0].ports[4]: "0x1bb": write the port in plain decimal, e.g. 993`,
				`enforcer.yaml:4:41: services[0].ports[5]: "0143": write the port in plain decimal, e.g. 993`,
				`enforcer.yaml:4:47: services[0].ports[6]: "8000-8010": port ranges are not supported; list the ports one by one`,
				`enforcer.yaml:4:58: services[0].ports[7]: want a port number 1..65535, got the number 1.5`,
				`enforcer.yaml:4:68: services[0].ports[9]: port 143 is listed twice (first at line 4); remove one`,
			}},
		{"empty ports", head + "services:\n  - name: imap\n    ports: []\n",
			[]string{`enforcer.yaml:4:12: services[0].ports: empty; list at least one port, or disable the service with enabled: false`}},
		{"ports required", head + "services:\n  - name: sieve\n    countries: [DE]\n",
			[]string{`enforcer.yaml:3:5: services[0].ports: required for a service that is not one of the defaults (activesync, webmail, imap, pop3, admin, smtp); e.g. ports: [4190]`}},
		{"unknown protocol", head + "services:\n  - name: imap\n    protocols: [tcp, sctp, TCP, udp, udp]\n",
			[]string{
				`enforcer.yaml:4:22: services[0].protocols[1]: "sctp" is not a protocol enforcer can protect; use one of tcp, udp`,
				`enforcer.yaml:4:28: services[0].protocols[2]: "TCP": write it in lower case, "tcp"`,
				`enforcer.yaml:4:38: services[0].protocols[4]: udp is listed twice (first at line 4); remove one`,
			}},
		{"empty protocols", head + "services:\n  - name: imap\n    protocols: []\n",
			[]string{`enforcer.yaml:4:16: services[0].protocols: empty; give tcp, udp or both, or remove the field for the default [tcp]`}},

		// Names.
		{"service name missing", head + "services:\n  - ports: [1]\n",
			[]string{`enforcer.yaml:3:5: services[0].name: required: every service needs a name, one of the defaults (activesync, webmail, imap, pop3, admin, smtp) or your own`}},
		{"service name invalid", head + "services:\n  - name: IMAP_2\n    ports: [1]\n",
			[]string{`enforcer.yaml:3:11: services[0].name: "IMAP_2" is not a service name: use 1 to 32 lower-case letters, digits and '-', e.g. imap-internal`}},
		{"duplicate service name", head + "services:\n  - name: imap\n    countries: [DE]\n  - name: imap\n    allow: [192.0.2.0/24]\n",
			[]string{`enforcer.yaml:5:11: services[1].name: "imap" is already the name of services[0] (line 3); names are unique: set all of a service's fields in one entry`}},

		// Clashes.
		{"port clash", head + "services:\n  - name: imap\n  - name: imaps-alt\n    ports: [10993, 993]\n",
			[]string{`enforcer.yaml:5:20: services[1].ports[1]: tcp port 993 is already claimed by service "imap" (services[0], line 3); give the two services different destinations, or disable one with enabled: false`}},
		{"port clash with a default's port", head + "services:\n  - name: owa\n    ports: [443]\n  - name: activesync\n",
			[]string{`enforcer.yaml:5:11: services[1].name: tcp port 443 (a default port of activesync; set ports to change them) is already claimed by service "owa" (services[0], line 4); give the two services different destinations, or disable one with enabled: false`}},
		{"destination clash", head + "services:\n  - name: a\n    ports: [443]\n    destinations: [192.0.2.0/24, 198.51.100.1]\n  - name: b\n    ports: [443]\n    destinations: [\"::ffff:198.51.100.1/128\"]\n",
			[]string{`enforcer.yaml:7:13: services[1].ports[0]: tcp port 443 to 198.51.100.1/32 is already claimed by service "a" (services[0], line 4); give the two services different destinations, or disable one with enabled: false`}},
		{"smtp reserves its ports", head + "services:\n  - name: smtp\n  - name: relay\n    ports: [25]\n    allow: [192.0.2.25]\n",
			[]string{`enforcer.yaml:5:13: services[1].ports[0]: tcp port 25 is already claimed by service "smtp" (services[0], line 3)...`}},

		// Kinds of service.
		{"geofenced smtp port", head + "services:\n  - name: submission\n    ports: [587]\n    countries: [DE]\n",
			[]string{`enforcer.yaml:5:16: services[0].countries: tcp port 587 is SMTP, which must accept mail from any host and is never geofenced; remove countries, or move the service off tcp 25, 465 and 587`}},
		{"geofence true on an smtp port", head + "services:\n  - name: mx\n    ports: [25]\n    geofence: true\n",
			[]string{`enforcer.yaml:5:15: services[0].geofence: tcp port 25 is SMTP, which must accept mail from any host and is never geofenced; remove geofence, or move the service off tcp 25, 465 and 587`}},
		{"smtp service", head + "services:\n  - name: smtp\n    countries: [DE]\n    allow: [192.0.2.0/24]\n",
			[]string{
				`enforcer.yaml:4:16: services[0].countries: smtp is never geofenced: it must accept mail from any host; remove it (restrict submission per account on the mail server)`,
				`enforcer.yaml:5:12: services[0].allow: smtp is never filtered, so an allowlist would have no effect; remove it`,
			}},
		{"admin countries", head + "services:\n  - name: admin\n    countries: [DE]\n  - name: admin2\n    ports: [9444]\n",
			[]string{`enforcer.yaml:4:16: services[0].countries: the admin page admits explicit addresses only, never whole countries; list them under allow and remove countries`}},
		{"admin geofence", head + "services:\n  - name: admin\n    geofence: true\n",
			[]string{`enforcer.yaml:4:15: services[0].geofence: the admin page admits explicit addresses only, never whole countries; list them under allow and remove geofence`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("enforcer.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error for:\n%s", tc.in)
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			ok := len(got) == len(tc.want)
			for i := 0; ok && i < len(got); i++ {
				w := tc.want[i]
				if pre, cut := strings.CutSuffix(w, "..."); cut {
					ok = strings.HasPrefix(got[i], pre)
				} else {
					ok = got[i] == w
				}
			}
			if !ok {
				t.Errorf("input:\n%s\ngot:\n%s\nwant:\n%s", tc.in, err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestProblemLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("interfaces: [eth0]\ndeny:\n")
	for i := range 30 {
		fmt.Fprintf(&b, "  - 10.0.%d.300/24\n", i)
	}
	_, err := Parse("x.yaml", []byte(b.String()))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v", err)
	}
	if len(cerr.Problems) != MaxProblems || cerr.Omitted != 10 {
		t.Errorf("got %d problems, %d omitted; want %d, 10", len(cerr.Problems), cerr.Omitted, MaxProblems)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxProblems+1 || lines[MaxProblems] != "... and 10 more problems; fix these first" {
		t.Errorf("got:\n%s", err)
	}
	// In file order.
	for i, p := range cerr.Problems {
		if p.Line != 3+i {
			t.Errorf("problem %d at line %d, want %d", i, p.Line, 3+i)
		}
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f", Line: 3, Col: 4, Field: "a.b", Msg: "m"}, "f:3:4: a.b: m"},
		{Problem{File: "f", Line: 3, Msg: "m"}, "f:3: m"},
		{Problem{File: "f", Field: "x", Msg: "m"}, "f: x: m"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
