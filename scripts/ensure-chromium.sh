#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (test/node/browser/viewer.test.ts and
# test/node/browser/webchat.test.ts) when /usr/bin/chromium is missing. Never fails the caller:
# without Chromium those tests skip with a message.
set -u

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  echo "ensure-chromium: $CHROMIUM present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM missing and apt-get unavailable; the viewer browser test will be skipped" >&2
  exit 0
fi

# Root runs apt-get directly; anyone else needs password-less sudo.
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "ensure-chromium: $CHROMIUM missing and no root/sudo to install it; the viewer browser test will be skipped" >&2
  exit 0
fi

echo "ensure-chromium: installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
if ${as_root[@]+"${as_root[@]}"} apt-get -o DPkg::Lock::Timeout=120 update -qq \
  && ${as_root[@]+"${as_root[@]}"} apt-get -o DPkg::Lock::Timeout=120 install -y -qq chromium >/dev/null \
  && [ -x "$CHROMIUM" ]; then
  echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"
else
  echo "ensure-chromium: apt-get could not install chromium; the viewer browser test will be skipped" >&2
fi
exit 0
