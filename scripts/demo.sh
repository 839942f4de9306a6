#!/usr/bin/env bash
# make demo / make demo-clean.
#
# Builds a lab of three network namespaces on this host:
#
#   enforcer-demo-clients          enforcer-demo-gw              enforcer-demo-mail
#   sources in DE, AT, KP, ...  -- ext0 [XDP: enforcer] int0 --  dovecot IMAP :143
#   (198.51.100.x, 203.0.113.x)    198.18.0.1   192.0.2.254      HTTPS :443, admin :9443
#                                  ActiveSync proxy :443 ------> Exchange stand-in :8080
#                                                                192.0.2.10
#
# The Exchange stand-in is the proxy's upstream: proxy.protect_upstream (on
# by default) drops every client that tries to reach it directly, even from
# an allowed country, so ActiveSync goes through the proxy's device checks.
#
# runs the real enforcer daemon on the gateway with a generated demo GeoIP
# database and its ActiveSync proxy in front of an Exchange stand-in, drives
# IMAP, HTTPS and ActiveSync traffic from every source, prints what passed,
# what was dropped or blocked and why, and leaves the lab running so you can
# poke at it. `make demo-clean` tears everything down. Nothing leaves the
# namespaces: every address lives inside them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

DIR=/tmp/enforcer-demo
PINS=/sys/fs/bpf/enforcer-demo
CLIENTS=enforcer-demo-clients GW=enforcer-demo-gw MAIL=enforcer-demo-mail
MAILIP=192.0.2.10
BIN=$PWD/bin/enforcer

in_ns() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }

clean() {
  # Every process of the lab (daemon, dovecot, TLS servers) names $DIR on
  # its command line; pid files could miss a daemonised or forked one.
  pkill -TERM -f -- "$DIR/" 2>/dev/null || true
  for _ in $(seq 50); do pgrep -f -- "$DIR/" >/dev/null || break; sleep 0.1; done
  pkill -KILL -f -- "$DIR/" 2>/dev/null || true
  # The daemon leaves its pinned program behind by design; remove it.
  [ -x "$BIN" ] && "$BIN" detach --config "$DIR/enforcer.yaml" >/dev/null 2>&1 || true
  for ns in $CLIENTS $GW $MAIL; do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$PINS" "$DIR"
}

if [ "${1:-}" = clean ]; then
  clean
  echo "demo: lab removed (namespaces, daemon, dovecot, pins, $DIR)"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "demo: run as root (BPF, XDP and network namespaces need it)" >&2; exit 1; }
clean
mkdir -p "$DIR"
trap 'echo "demo: failed; logs are in $DIR; make demo-clean removes the lab" >&2' ERR

echo "==> building the lab"
for ns in $CLIENTS $GW $MAIL; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
ip -n $CLIENTS link add wan0 type veth peer name ext0 netns $GW
ip -n $GW link add int0 type veth peer name lan0 netns $MAIL
ip -n $CLIENTS addr add 198.18.0.2/24 dev wan0
ip -n $GW addr add 198.18.0.1/24 dev ext0
ip -n $GW addr add 192.0.2.254/24 dev int0
ip -n $MAIL addr add $MAILIP/24 dev lan0
for a in 203.0.113.10 198.51.100.5 198.51.100.20 198.51.100.35 198.51.100.50 198.51.100.66; do
  ip -n $CLIENTS addr add $a/32 dev wan0
done
ip -n $CLIENTS link set wan0 up
ip -n $GW link set ext0 up
ip -n $GW link set int0 up
ip -n $MAIL link set lan0 up
ip -n $CLIENTS route add default via 198.18.0.1
ip -n $MAIL route add default via 192.0.2.254
ip -n $GW route add 198.51.100.0/24 via 198.18.0.2
ip -n $GW route add 203.0.113.0/24 via 198.18.0.2
ip netns exec $GW sysctl -qw net.ipv4.ip_forward=1

echo "==> starting the mail server (dovecot IMAP, HTTPS, admin page)"
mkdir -p "$DIR/mail/run" "$DIR/mail/home/demo"
echo "demo:{PLAIN}demo:$(id -u dovenull 2>/dev/null || echo 65534):$(id -g dovenull 2>/dev/null || echo 65534)::$DIR/mail/home/demo" > "$DIR/mail/users"
chown -R dovenull: "$DIR/mail/home" 2>/dev/null || true
cat > "$DIR/mail/dovecot.conf" <<EOF
base_dir = $DIR/mail/run
state_dir = $DIR/mail/run
listen = *
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $DIR/dovecot.log
mail_location = maildir:$DIR/mail/home/%u/Maildir
# The demo's one user is dovecot's own unprivileged account.
first_valid_uid = 1
first_valid_gid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DIR/mail/users
}
userdb {
  driver = passwd-file
  args = $DIR/mail/users
}
service imap-login {
  inet_listener imaps {
    port = 0
  }
}
EOF
in_ns $MAIL dovecot -c "$DIR/mail/dovecot.conf"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mail.demo.invalid" \
  -keyout "$DIR/tls.key" -out "$DIR/tls.crt" 2>/dev/null
for port in 443 9443; do
  nsenter --net=/run/netns/$MAIL openssl s_server -quiet -accept $port -www -cert "$DIR/tls.crt" -key "$DIR/tls.key" \
    </dev/null >"$DIR/https-$port.log" 2>&1 &
done

go build -o "$DIR/exchange" ./test/demo/exchange
go build -o "$DIR/phone" ./test/demo/easclient
in_ns $MAIL "$DIR/exchange" -listen $MAILIP:8080 -log "$DIR/exchange.log" </dev/null >>"$DIR/exchange.err" 2>&1 &

echo "==> starting enforcer on the gateway (XDP on ext0, ActiveSync proxy on 198.18.0.1:443)"
openssl rand -hex 32 > "$DIR/push.token"
chmod 600 "$DIR/push.token"
go run ./test/demo/geodb "$DIR/GeoLite2-Country.mmdb"
cat > "$DIR/enforcer.yaml" <<EOF
# The demo's configuration: see cmd/enforcer/config/REFERENCE.md for every field.
interfaces:
  - name: ext0
state_dir: $DIR/state
bpffs_dir: $PINS
geoip:
  database: $DIR/GeoLite2-Country.mmdb
admin:
  socket: $DIR/enforcer.sock
metrics:
  listen: 127.0.0.1:9740
deny:
  - cidr: 198.51.100.66/32
    comment: password spraying
services:
  - name: imap
    countries: [DE, AT, CH]
    allow: [203.0.113.0/24]
  - name: webmail
    ports: [443]
    countries: [DE, AT, CH]
  - name: admin
    allow: [203.0.113.10/32]
  - name: activesync          # the gateway's own proxy: same countries
    ports: [443]
    destinations: [198.18.0.1/32]
    countries: [DE, AT, CH]
    allow: [203.0.113.0/24]
proxy:
  listen: 198.18.0.1:443
  upstream: http://$MAILIP:8080  # protect_upstream (default true): only the gateway reaches it
  cert_file: $DIR/tls.crt
  key_file: $DIR/tls.key
devices:
  push: {listen: "127.0.0.1:8444", token_file: $DIR/push.token, plain_http: true}
  policy:
    revision: demo
    block_compromised: true
transforms:                   # email security on the mail the proxy passes
  links: {mode: all, http_scheme: mibrowser, https_scheme: mibrowsers}
  attachments:
    managed: {default: allow, rules: [{extensions: [exe], action: block}, {extensions: [pdf], action: encrypt}]}
    unmanaged: {default: block}
EOF
"$BIN" run --check --config "$DIR/enforcer.yaml"
nsenter --net=/run/netns/$GW "$BIN" run --config "$DIR/enforcer.yaml" >"$DIR/enforcer.log" 2>&1 &
E() { "$BIN" "$@" --socket "$DIR/enforcer.sock"; }
for _ in $(seq 100); do "$BIN" status --socket "$DIR/enforcer.sock" >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN" status --socket "$DIR/enforcer.sock"

echo
echo "==> driving traffic from every source (dropped attempts time out after 2 s)"
probe() { # name src country
  local imap https admin
  imap=$(in_ns $CLIENTS curl -s --max-time 2 --interface "$2" --user demo:demo "imap://$MAILIP/" -X 'LIST "" "*"' >/dev/null 2>&1 && echo "LIST ok" || echo "dropped")
  https=$(in_ns $CLIENTS curl -sk --max-time 2 --interface "$2" -o /dev/null "https://$MAILIP/" && echo "200 ok" || echo "dropped")
  admin=$(in_ns $CLIENTS curl -sk --max-time 2 --interface "$2" -o /dev/null "https://$MAILIP:9443/" && echo "200 ok" || echo "dropped")
  # Around the proxy, straight to the Exchange stand-in (the proxy's upstream).
  direct=$(in_ns $CLIENTS curl -s --max-time 2 --interface "$2" -o /dev/null \
    "http://$MAILIP:8080/Microsoft-Server-ActiveSync?Cmd=Sync&User=direct&DeviceId=DIRECT" && echo "200 ok" || echo "dropped")
  printf '%-28s %-15s %-8s %-10s %-10s %-10s %-10s\n' "$1" "$2" "$3" "$imap" "$https" "$admin" "$direct" > "$DIR/probe-$2"
}
pids=()
probe "mobile gateway (allowlist)" 203.0.113.10 US & pids+=($!)
probe "user at home" 198.51.100.5 DE & pids+=($!)
probe "user travelling" 198.51.100.20 AT & pids+=($!)
probe "attacker abroad" 198.51.100.35 KP & pids+=($!)
probe "unknown network" 198.51.100.50 - & pids+=($!)
probe "denied host" 198.51.100.66 DE & pids+=($!)
wait "${pids[@]}" # only the probes: the servers and the daemon run on
printf '%-28s %-15s %-8s %-10s %-10s %-10s %-10s\n' SOURCE ADDRESS COUNTRY "IMAP 143" "HTTPS 443" "ADMIN 9443" "EAS 8080, around the proxy"
for a in 203.0.113.10 198.51.100.5 198.51.100.20 198.51.100.35 198.51.100.50 198.51.100.66; do cat "$DIR/probe-$a"; done

echo
echo "==> device management pushes two phones (push API, bearer token)"
push() { # id json
  in_ns $GW curl -sf -X PUT -H "Authorization: Bearer $(cat "$DIR/push.token")" -H 'Content-Type: application/json' \
    --data "$2" "http://127.0.0.1:8444/v1/devices/$1"
}
push GOODPHONE '{"device_id":"GOODPHONE","user":"jane@demo.invalid","managed":true,"compromised":"no","encrypted":"yes","platform":"Apple","model":"iPhone 15","os_version":"17.4"}'
push ROOTEDPHONE '{"device_id":"ROOTEDPHONE","user":"joe@demo.invalid","managed":true,"compromised":"yes","platform":"Android","os_version":"14"}'

echo
echo "==> ActiveSync through the proxy: the same mailbox, one message with two links, report.pdf and setup.exe"
eas() { # name src device user [GetAttachment ref]
  local extra=()
  [ -n "${5:-}" ] && extra=(-cmd "$5" -attachment "$6")
  printf '%-22s %-12s %s\n' "$1" "$3" "$(in_ns $CLIENTS "$DIR/phone" -url https://198.18.0.1/Microsoft-Server-ActiveSync \
    -src "$2" -device "$3" -user "$4" "${extra[@]}" 2>&1)"
}
eas "at home (DE), managed" 198.51.100.5 GOODPHONE jane@demo.invalid
eas "at home (DE), managed" 198.51.100.5 GOODPHONE jane@demo.invalid GetAttachment 1:1:report.pdf
eas "at home (DE), rooted" 198.51.100.5 ROOTEDPHONE joe@demo.invalid
eas "travelling (AT), BYOD" 198.51.100.20 NEWPHONE ann@demo.invalid
eas "travelling (AT), BYOD" 198.51.100.20 NEWPHONE ann@demo.invalid GetAttachment 1:1:report.pdf
eas "attacker abroad (KP)" 198.51.100.35 GOODPHONE jane@demo.invalid
echo "(managed: links open in the secure browser, report.pdf encrypted with the phone's key, setup.exe removed;"
echo " BYOD (no record): links as sent, every attachment removed and refused; 129 = device blocked: compromised)"
echo "(the user at home syncs through the gateway, but the same client going straight to the Exchange stand-in,"
echo " $MAILIP:8080, was dropped above: the 'upstream' service, derived from proxy.upstream, admits only its allowlist)"
echo

echo "==> what the gateway knows of the devices (enforcer device list)"
E device list
echo
echo "==> the Exchange stand-in saw only the phones the gateway let through:"
cat "$DIR/exchange.log"

echo
echo "==> why, from the datapath's counters (enforcer stats)"
E stats
echo
E check 198.51.100.35 --service imap
E check 198.51.100.66 --service imap
E check 198.51.100.5 --service upstream

cat <<EOF

The lab keeps running. Poke at it (as root):
  $BIN status --socket $DIR/enforcer.sock
  $BIN country add KP --service imap --socket $DIR/enforcer.sock     # let the "attacker" in
  nsenter --net=/run/netns/$CLIENTS curl --interface 198.51.100.35 --user demo:demo imap://$MAILIP/ -X 'LIST "" "*"'
  $BIN stats --watch --socket $DIR/enforcer.sock
  $BIN device show ROOTEDPHONE --socket $DIR/enforcer.sock              # why it is blocked
  $BIN device allow ROOTEDPHONE --socket $DIR/enforcer.sock             # let it sync anyway
  $BIN policy show --socket $DIR/enforcer.sock                          # device policy and transforms
  $BIN device key GOODPHONE --user jane@demo.invalid --socket $DIR/enforcer.sock  # the content app's key
  nsenter --net=/run/netns/$GW curl -s 127.0.0.1:9741/                # the admin page
  nsenter --net=/run/netns/$GW curl -s 127.0.0.1:9740/metrics | grep ^enforcer_
Logs: $DIR/enforcer.log (with one transaction line per ActiveSync request), $DIR/dovecot.log, $DIR/exchange.log. Tear it all down with: make demo-clean
EOF
