#!/usr/bin/env bash
# skiff-shim links runc's nsenter with cgo: make sure a C toolchain is there (Debian's gcc and libc6-dev).
set -euo pipefail
if ! command -v gcc >/dev/null || [ ! -e /usr/include/stdio.h ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "skiff-shim needs gcc and libc6-dev: install them (apt-get install gcc libc6-dev) or run as root" >&2
    exit 1
  fi
  echo "installing a C toolchain for skiff-shim"
  apt-get update -qq && apt-get install -y -qq gcc libc6-dev
fi
