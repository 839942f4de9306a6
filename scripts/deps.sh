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

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
