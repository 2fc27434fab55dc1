#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# deps.sh - make sure the Debian packages the build needs are installed.
#
# Run by `make`, `make test` and .ci/run before anything else. When all the
# packages are there it costs one dpkg-query call and prints nothing, so it
# is cheap enough to run on every build. When some are missing:
#   - as root (CI, containers): `apt-get update` once, then install them
#     without asking anything;
#   - otherwise: print the exact command to run and exit 1, rather than
#     guessing at sudo on someone's workstation.
#
# The sanitizer build (build-asan) needs nothing more: gcc's libasan and
# libubsan come with gcc itself. Set RINGLOG_SKIP_DEPS=1 to skip the check,
# e.g. on a distribution that is not Debian (meson then names what is
# missing).
set -euo pipefail

# make: .ci/run calls this script before `make test`, and a fresh Debian
# image has no make. libc6-dev: only a Recommends of gcc, which some images
# do not install. spin: the model checker that checks the ring protocol's
# model (tests/model). scdoc: builds the ringctl man page.
packages=(
  make
  gcc
  libc6-dev
  pkg-config
  meson
  ninja-build
  liburing-dev
  libnuma-dev
  libcmocka-dev
  spin
  scdoc
)

if [ "${RINGLOG_SKIP_DEPS:-0}" = 1 ]; then
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps.sh: no dpkg-query: not a Debian system, not checking packages." >&2
  echo "deps.sh: you need meson, ninja, gcc, pkg-config, liburing, libnuma and cmocka." >&2
  exit 0
fi

# One call for all packages. Unknown packages make dpkg-query complain on
# stderr and exit 1; they are simply absent from its output, hence missing.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" \
  2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
  if ! grep -q "^${p} ii" <<<"$installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "deps.sh: install them with:" >&2
  echo "    sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "==> Installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y "${missing[@]}"
