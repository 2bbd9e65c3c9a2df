#!/usr/bin/env bash
# Print the path of Debian's Chromium for the browser tests, installing the
# package first when it is missing (as root; otherwise say how). Never a test
# tool's own browser download.
set -euo pipefail
bin=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$bin" ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "chromium is missing: install it (apt-get install chromium)" >&2; exit 1; fi
  echo "installing chromium from Debian packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
fi
echo "$bin"
