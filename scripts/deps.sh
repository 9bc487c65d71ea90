#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages tt-alloc needs to build, test and run its demo,
# when any is missing. Safe to run again; asks apt only when something lacks.
# docs/DEPENDENCIES.md says why each package is here.
set -eu

PACKAGES="build-essential cmake pkg-config libcmocka-dev libncurses-dev libsystemd-dev
libmicrohttpd-dev python3 python3-pytest python3-pytest-timeout python3-jsonschema python3-pip python3-setuptools python3-venv tmux procps
prometheus systemd clang clang-format libfuzzer-14-dev groff-base man-db libzstd-dev chromium"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
