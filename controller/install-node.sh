#!/bin/sh
# Loa: join this Raspberry Pi to its controller as a speaker cluster (cụm loa).
#
#   curl -fsSL @CONTROLLER_URL@/node/install.sh | sudo sh -s -- JOIN-CODE
#
# Served by the controller (controller/services/node_dist.py fills in its URL and version). In order:
# checks the OS, architecture and Python; redeems the join code for the node's bundle (before
# anything is installed: a used, expired, revoked or mistyped code changes nothing); installs the
# Debian packages the agent needs; creates the system user and folders; makes the venv and
# installs the loa wheel from the controller (other Python packages from the Pi's usual package
# registry); writes the config; installs, enables and (re)starts the systemd unit.
# Run again (no code needed) to upgrade in place: an existing config, and so the node's identity,
# is kept. See docs/node.md.
set -eu

CONTROLLER_URL="@CONTROLLER_URL@"
VERSION="@VERSION@"
WHEEL="@WHEEL@"
# For tests only: install under this folder instead of / and use this Python.
ROOT="${LOA_ROOT:-}"
PYTHON="${LOA_PYTHON:-python3}"
LOA_USER="loa"
VENV="$ROOT/opt/loa"
CONF_DIR="$ROOT/etc/loa-node"
CONF="$CONF_DIR/node.toml"
PENDING="$CONF_DIR/join-bundle.json"
DATA="$ROOT/var/lib/loa-node"
UNIT="$ROOT/etc/systemd/system/loa-node.service"

say() { printf '%s\n' "$*" >&2; }
die() {
	say "loa: $*"
	exit 1
}

check_system() {
	if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
		die "Hãy chạy bằng quyền root: curl -fsSL $CONTROLLER_URL/node/install.sh | sudo sh -s -- MÃ-THAM-GIA"
	fi
	os_id=""
	os_like=""
	os_version=""
	if [ -r "$ROOT/etc/os-release" ]; then
		os_id=$(sed -n 's/^ID=//p' "$ROOT/etc/os-release" | tr -d '"')
		os_like=$(sed -n 's/^ID_LIKE=//p' "$ROOT/etc/os-release" | tr -d '"')
		os_version=$(sed -n 's/^VERSION_ID=//p' "$ROOT/etc/os-release" | tr -d '"')
	fi
	case " $os_id $os_like " in
	*" debian "* | *" raspbian "*) ;;
	*) die "Chỉ cài được trên Raspberry Pi OS hoặc Debian 12 trở lên (máy này: ${os_id:-không rõ})." ;;
	esac
	case "$os_version" in
	'' | *[!0-9]*) die "Không đọc được phiên bản hệ điều hành; cần Debian 12 trở lên." ;;
	esac
	[ "$os_version" -ge 12 ] || die "Cần Debian 12 (bookworm) trở lên; máy này là $os_id $os_version."
	arch=$(uname -m)
	case "$arch" in
	aarch64 | armv7l | armv6l | x86_64) ;;
	*) die "Kiến trúc $arch chưa được hỗ trợ (aarch64, armv7l, armv6l, x86_64)." ;;
	esac
	"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
		die "Cần Python 3.11 trở lên ($PYTHON)."
	command -v curl >/dev/null 2>&1 || die "Thiếu lệnh curl."
}

# Redeem the code for the bundle, kept root-only in $PENDING until the config is written, so an
# interrupted install resumes without a new code.
redeem() {
	code="$1"
	case "$code" in
	'' | *[!A-Za-z0-9-]*) die "Mã tham gia không đúng: hãy kiểm tra lại từng ký tự." ;;
	esac
	answer=$(mktemp)
	chmod 600 "$answer"
	status=$(curl -sS -o "$answer" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' --data "{\"code\": \"$code\"}" \
		"$CONTROLLER_URL/api/v1/join") || {
		rm -f "$answer"
		die "Không kết nối được bộ điều khiển $CONTROLLER_URL."
	}
	if [ "$status" != 200 ]; then
		message=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["error"]["message"])' \
			"$answer" 2>/dev/null || echo "bộ điều khiển trả lời HTTP $status.")
		rm -f "$answer"
		die "$message"
	fi
	mkdir -p "$CONF_DIR"
	chmod 0750 "$CONF_DIR"
	mv "$answer" "$PENDING"
}

install_packages() {
	packages="python3-venv mpg123 alsa-utils chrony"
	# The GPIO pin driver gpiozero uses on Raspberry Pi OS; plain Debian has no such package.
	if apt-cache show python3-lgpio >/dev/null 2>&1; then
		packages="$packages python3-lgpio"
	fi
	say "Cài gói hệ thống: $packages"
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages
}

make_user() {
	groups="audio"
	if getent group gpio >/dev/null 2>&1; then
		groups="audio,gpio"
	fi
	if ! id -u "$LOA_USER" >/dev/null 2>&1; then
		useradd --system --home /var/lib/loa-node --no-create-home --shell /usr/sbin/nologin \
			--groups "$groups" "$LOA_USER"
	fi
	install -d -m 0755 "$VENV"
	install -d -m 0750 "$CONF_DIR" "$DATA"
}

install_wheel() {
	# --system-site-packages: gpiozero finds the lgpio pin driver apt installed.
	[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv --system-site-packages "$VENV"
	download=$(mktemp -d)
	curl -fsSL -o "$download/$WHEEL" "$CONTROLLER_URL/node/$WHEEL" ||
		die "Không tải được $WHEEL từ $CONTROLLER_URL."
	say "Cài loa $VERSION"
	# The wheel's dependencies come from the registry this Pi's pip already uses; then this very
	# wheel replaces what was installed, even a build of the same version.
	"$VENV/bin/pip" install -q --disable-pip-version-check "$download/$WHEEL[node]"
	"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps \
		"$download/$WHEEL"
	rm -rf "$download"
}

write_config() {
	"$VENV/bin/loa" node provision "$PENDING" --config "$CONF" --data-dir "$DATA" >/dev/null
	shred -u "$PENDING" 2>/dev/null || rm -f "$PENDING"
}

install_unit() {
	groups="audio"
	if getent group gpio >/dev/null 2>&1; then
		groups="audio gpio"
	fi
	mkdir -p "$(dirname "$UNIT")"
	cat >"$UNIT" <<EOF
[Unit]
Description=Loa node agent (cụm loa)
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target sound.target

[Service]
User=$LOA_USER
Group=$LOA_USER
SupplementaryGroups=$groups
ExecStart=$VENV/bin/loa node --config $CONF
Restart=always
RestartSec=2
LimitRTPRIO=10
Nice=-5
Environment=MALLOC_ARENA_MAX=2
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths=$DATA
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
EOF
	chmod 0644 "$UNIT"
	systemctl daemon-reload
	systemctl enable loa-node
	systemctl restart loa-node
}

main() {
	code="${1:-}"
	check_system
	if [ -f "$CONF" ]; then
		say "Đã có cấu hình $CONF: nâng cấp tại chỗ, giữ nguyên danh tính cụm loa."
		[ -z "$code" ] || say "(Không dùng mã tham gia: cụm loa này đã tham gia.)"
	elif [ -f "$PENDING" ]; then
		say "Tiếp tục cài đặt với gói cấu hình đã nhận ($PENDING)."
	elif [ -z "$code" ]; then
		die "Thiếu mã tham gia: curl -fsSL $CONTROLLER_URL/node/install.sh | sudo sh -s -- MÃ-THAM-GIA"
	else
		redeem "$code"
	fi
	install_packages
	make_user
	install_wheel
	[ -f "$CONF" ] || write_config
	chown -R "$LOA_USER:$LOA_USER" "$CONF_DIR" "$DATA"
	chmod 0600 "$CONF"
	install_unit
	node_id=$(sed -n 's/^node_id = "\(.*\)"$/\1/p' "$CONF")
	say "Xong: cụm loa $node_id chạy loa $VERSION. Nhật ký: journalctl -u loa-node -f"
}

# The whole script is read before it runs, and nothing below reads the pipe it came through.
main "$@" </dev/null
