#!/bin/sh
# Install the Debian packages named as arguments that are missing, when running as root.
# As another user, say what is missing and carry on: the tests that need them skip with a reason.
missing=""
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "note: missing Debian packages:$missing (run as root to install them)" >&2
  exit 0
fi
echo "installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null
