#!/usr/bin/env bash
# Installs with apt-get what the tests need from the system when it is missing: Debian's Chromium for
# the browser tests (test/node/browser/viewer.test.ts, webchat.test.ts) and jq for the docs' examples
# (test/node/docs/examples.test.ts; README, "Prerequisites"). Never fails the caller: without
# Chromium the browser tests skip with a message; without jq the docs test says what is missing.
set -u

CHROMIUM=/usr/bin/chromium
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if [ ${#missing[@]} -eq 0 ]; then
  echo "ensure-chromium: $CHROMIUM and jq present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: ${missing[*]} missing and apt-get unavailable; install them by hand" >&2
  exit 0
fi

# Root runs apt-get directly; anyone else needs password-less sudo.
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "ensure-chromium: ${missing[*]} missing and no root/sudo to install them" >&2
  exit 0
fi

echo "ensure-chromium: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
if ${as_root[@]+"${as_root[@]}"} apt-get -o DPkg::Lock::Timeout=120 update -qq \
  && ${as_root[@]+"${as_root[@]}"} apt-get -o DPkg::Lock::Timeout=120 install -y -qq "${missing[@]}" >/dev/null; then
  [ -x "$CHROMIUM" ] && echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"
  command -v jq >/dev/null 2>&1 && echo "ensure-chromium: $(jq --version)"
else
  echo "ensure-chromium: apt-get could not install ${missing[*]}; the browser tests will be skipped" >&2
fi
exit 0
