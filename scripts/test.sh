#!/usr/bin/env bash
# scripts/test.sh — the project's test command.
#
# Makes sure MariaDB and Redis answer (installing and starting them when
# running as root on a Debian-like machine), then runs go vet and
# go test -race over the whole module, or over the packages given.
#
# Usage:
#   scripts/test.sh                          # every package
#   scripts/test.sh ./storage/redis/... -run TestLease -v
#   scripts/test.sh -run TestQueue           # flags only: every package
#
# Arguments go to `go test`; when none of them names a package (./..., a
# relative path or a github.com/tock-sched/tock/... import path), ./... is
# added. go vet runs on the named packages, or on ./... .
#
# Environment:
#   TOCK_TEST_MYSQL_ADDR   host:port of MariaDB   (default 127.0.0.1:3306)
#   TOCK_TEST_REDIS_ADDR   host:port of Redis     (default 127.0.0.1:6379)
#   TOCK_TEST_SKIP_MYSQL=1 do not check or start MariaDB
#   TOCK_TEST_SKIP_REDIS=1 do not check or start Redis (Redis tests skip)
#   TOCK_TEST_WAIT         seconds to wait for a service to answer (60)
#   TOCK_SERVICES_ONLY=1   start the services, then exit (scripts/bench.sh)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -d /usr/local/go/bin ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

MODULE=github.com/tock-sched/tock
MYSQL_ADDR=${TOCK_TEST_MYSQL_ADDR:-127.0.0.1:3306}
REDIS_ADDR=${TOCK_TEST_REDIS_ADDR:-127.0.0.1:6379}
MYSQL_HOST=${MYSQL_ADDR%:*}
MYSQL_PORT=${MYSQL_ADDR##*:}
REDIS_HOST=${REDIS_ADDR%:*}
REDIS_PORT=${REDIS_ADDR##*:}
WAIT=${TOCK_TEST_WAIT:-60}
export TOCK_TEST_MYSQL_ADDR=$MYSQL_ADDR TOCK_TEST_REDIS_ADDR=$REDIS_ADDR

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
is_root() { [[ $(id -u) -eq 0 ]]; }
is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 ]]; }

# tcp_open HOST PORT: something listens there.
tcp_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND once a second.
wait_until() {
	local seconds=$1 what=$2
	shift 2
	local i
	for ((i = 0; i < seconds; i++)); do
		if "$@"; then
			return 0
		fi
		sleep 1
	done
	die "$what did not answer within ${seconds}s"
}

# apt_install PACKAGE...: install as root, or say what to install.
apt_install() {
	if ! is_root; then
		die "missing $*; install them (apt-get install -y $*) or run as root"
	fi
	if ! command -v apt-get >/dev/null; then
		die "missing $*, and no apt-get to install them with"
	fi
	log "installing $*"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ---- Redis ---------------------------------------------------------------

redis_ping() {
	if command -v redis-cli >/dev/null; then
		[[ $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
	else
		local reply
		{
			exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" &&
				printf 'PING\r\n' >&3 &&
				IFS= read -r -t 2 reply <&3 &&
				[[ $reply == +PONG* ]]
		} 2>/dev/null
	fi
}

ensure_redis() {
	if redis_ping; then
		return 0
	fi
	if ! is_local "$REDIS_HOST"; then
		die "Redis at $REDIS_ADDR does not answer (not starting a remote one)"
	fi
	if ! command -v redis-server >/dev/null; then
		apt_install redis-server
	fi
	log "starting redis-server on $REDIS_ADDR"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
		--save "" --appendonly no --dir /tmp \
		--pidfile "/tmp/tock-redis-$REDIS_PORT.pid" \
		--logfile "/tmp/tock-redis-$REDIS_PORT.log" ||
		die "redis-server failed to start; see /tmp/tock-redis-$REDIS_PORT.log"
	wait_until "$WAIT" "Redis at $REDIS_ADDR" redis_ping
	log "Redis is up on $REDIS_ADDR"
}

# ---- MariaDB -------------------------------------------------------------

mysql_tcp() {
	mysql --protocol=TCP -h "$MYSQL_HOST" -P "$MYSQL_PORT" -uroot \
		--connect-timeout=2 "$@"
}
mysql_login() { mysql_tcp -e 'select 1' >/dev/null 2>&1; }
mysql_alive() {
	# mysqladmin ping succeeds even when the login is refused: the server
	# answers, which is what this asks.
	mysqladmin --protocol=TCP -h "$MYSQL_HOST" -P "$MYSQL_PORT" -uroot \
		--connect-timeout=2 ping >/dev/null 2>&1 || tcp_open "$MYSQL_HOST" "$MYSQL_PORT"
}

mariadbd_path() {
	local p
	for p in /usr/sbin/mariadbd /usr/sbin/mysqld; do
		if [[ -x $p ]]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

start_mariadb() {
	local bin
	bin=$(mariadbd_path) || die "no mariadbd binary after installing mariadb-server"
	mkdir -p /run/mysqld
	chown mysql:mysql /run/mysqld
	if [[ ! -d /var/lib/mysql/mysql ]]; then
		log "initialising the MariaDB data directory"
		if command -v mariadb-install-db >/dev/null; then
			mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
		else
			mysql_install_db --user=mysql --datadir=/var/lib/mysql >/dev/null
		fi
	fi
	log "starting $bin on port $MYSQL_PORT"
	start-stop-daemon --start --oknodo --background --exec "$bin" -- \
		--user=mysql --port="$MYSQL_PORT" --bind-address=127.0.0.1
	wait_until "$WAIT" "MariaDB at $MYSQL_ADDR" mysql_alive
}

# allow_root_over_tcp lets root log in from 127.0.0.1 without a password:
# Debian's root uses unix_socket authentication only.
allow_root_over_tcp() {
	log "allowing root to log in over TCP without a password"
	mysql -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" ||
		die "could not change root's authentication through the socket"
}

ensure_mariadb() {
	if ! command -v mysql >/dev/null; then
		if is_local "$MYSQL_HOST"; then
			apt_install mariadb-server
		else
			apt_install mariadb-client
		fi
	fi
	if mysql_login; then
		return 0
	fi
	if ! is_local "$MYSQL_HOST"; then
		die "MariaDB at $MYSQL_ADDR does not accept root without a password (not touching a remote one)"
	fi
	if ! mariadbd_path >/dev/null; then
		apt_install mariadb-server
	fi
	if ! mysql_alive; then
		is_root || die "MariaDB at $MYSQL_ADDR is down; start it or run as root"
		[[ $MYSQL_PORT == 3306 ]] || die "MariaDB at $MYSQL_ADDR is down; only the default port 3306 is started by this script"
		start_mariadb
	fi
	if ! mysql_login; then
		is_root || die "MariaDB runs but root cannot log in over TCP without a password"
		allow_root_over_tcp
		wait_until 10 "a root login to MariaDB at $MYSQL_ADDR" mysql_login
	fi
	log "MariaDB is up on $MYSQL_ADDR"
}

# ---- tests ---------------------------------------------------------------

if [[ ${TOCK_TEST_SKIP_MYSQL:-} != 1 ]]; then
	ensure_mariadb
fi
if [[ ${TOCK_TEST_SKIP_REDIS:-} != 1 ]]; then
	ensure_redis
fi

# scripts/bench.sh needs only the services.
if [[ ${TOCK_SERVICES_ONLY:-} == 1 ]]; then
	exit 0
fi

# promtool checks the /metrics exposition (internal/metrics tests).
if ! command -v promtool >/dev/null; then
	apt_install --no-install-recommends prometheus
fi

# Chromium drives the dashboard in internal/browsertest; once it is here that
# test must run, so it fails instead of skipping when it cannot find it.
have_chromium() { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }
if ! have_chromium; then
	apt_install --no-install-recommends chromium
fi
if have_chromium; then
	export TOCK_TEST_REQUIRE_BROWSER=1
fi

command -v go >/dev/null || die "go is not on PATH (expected /usr/local/go/bin)"
go version

args=("$@")
pkgs=()
for a in "${args[@]}"; do
	case $a in
	./* | ../* | "$MODULE" | "$MODULE"/*) pkgs+=("$a") ;;
	esac
done
if [[ ${#pkgs[@]} -eq 0 ]]; then
	pkgs=(./...)
	args+=(./...)
fi

echo "+ go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

echo "+ go test -race -count=1 -timeout 15m ${args[*]}"
status=0
go test -race -count=1 -timeout 15m "${args[@]}" 2>&1 || status=$?
exit "$status"
