#!/bin/sh
# Install the Debian packages whose commands are missing: `sysdeps.sh cmd:package ...`.
#
# Rules:
# - A command found on PATH (or in /usr/sbin, /sbin, where Debian puts daemons such as mosquitto
#   and icecast2) needs nothing; each missing command names the package that brings it.
# - With nothing missing, apt-get is not called at all (a machine without network still works).
# - Packages are installed in one apt-get call, after one `apt-get update`, without recommends.
# - Not root and something missing: one line saying what to install, and exit 1.
# LOA_SYSDEPS_SBIN overrides the extra folders searched (tests point it at an empty folder).
set -eu
sbin="${LOA_SYSDEPS_SBIN-/usr/sbin:/sbin}"
missing=""
for pair in "$@"; do
  cmd="${pair%%:*}"
  pkg="${pair##*:}"
  if ! PATH="$PATH:$sbin" command -v "$cmd" >/dev/null 2>&1; then
    case " $missing " in
      *" $pkg "*) ;;
      *) missing="${missing:+$missing }$pkg" ;;
    esac
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "Loa needs these Debian packages: $missing — run as root, or: sudo apt-get install $missing" >&2
  exit 1
fi
echo "installing system packages: $missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
