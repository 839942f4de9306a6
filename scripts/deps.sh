#!/usr/bin/env bash
# deps.sh installs every build and test dependency of enforcer on a Debian 12
# or Ubuntu 22.04+ host. It is idempotent: packages already present are left
# alone and the package index is refreshed only when something is missing.
set -euo pipefail

packages=(
  clang llvm libbpf-dev linux-libc-dev   # BPF C toolchain and headers
  iproute2 ethtool                        # netns, veth, XDP attach (tests)
  nftables iptables ipset                 # baselines for benchmarks
  netsniff-ng gnuplot-nox                 # attack generator and plots (bench)
  dovecot-imapd dovecot-pop3d curl        # real mail server and client (e2e)
  python3 ca-certificates openssl util-linux make git
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# nginx is only a baseline binary for the L7 benchmark (test/bench l7),
# which runs it on loopback with its own configuration; the package's
# service must not start.
need_nginx=
command -v nginx >/dev/null 2>&1 || need_nginx=1

if ((${#missing[@]})) || [[ -n $need_nginx ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
fi
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ -n $need_nginx ]]; then
  # nginx-light (core modules only, proxy included) on Debian 12 and
  # Ubuntu 22.04; later releases dropped it for plain nginx.
  nginx_pkg=nginx-light
  if [[ $(apt-cache policy nginx-light 2>/dev/null) != *"Candidate: "[0-9]* ]]; then
    nginx_pkg=nginx
  fi
  echo "deps: installing $nginx_pkg" >&2
  # The package's postinst starts nginx on port 80 through invoke-rc.d,
  # unless a policy-rc.d forbids it (exit 101: action not allowed,
  # Debian's invoke-rc.d(8) policy layer). Containers often ship one
  # already; otherwise install one for the duration of this install.
  own_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    own_policy=1
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "$nginx_pkg" >/dev/null
  if [[ -n $own_policy ]]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
  # Nor at the next boot.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

# Dovecot's packaged service must not run on the host: tests start their own
# instances inside network namespaces.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
  systemctl disable --now dovecot >/dev/null 2>&1 || true
fi

# bpffs is needed for pinning.
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi

command -v go >/dev/null 2>&1 || { echo "deps: Go 1.26+ is required on PATH (see https://go.dev/dl)" >&2; exit 1; }
echo "deps: ok" >&2
