#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:$PGPORT (default 5432) and lets
# user postgres in without a password from this host, which is how the tests
# connect (internal/store/storetest). On a Debian machine it installs the
# postgresql package when it is missing, creates a cluster when none uses the
# port, lets postgres in from 127.0.0.1 and ::1 (trust, first in pg_hba.conf)
# and starts the cluster. When the server already answers, it changes nothing.
set -euo pipefail
port=${PGPORT:-5432}

answers() {
	command -v psql >/dev/null 2>&1 &&
		psql "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable&connect_timeout=3" -Atqc 'SELECT 1' >/dev/null 2>&1
}

answers && exit 0

if ! command -v pg_lsclusters >/dev/null 2>&1; then
	echo "postgres: installing Debian's postgresql package"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# The cluster on the port: version, name, status.
read -r ver name status < <(pg_lsclusters -h | awk -v p="$port" '$3 == p { print $1, $2, $4; exit }') || true
if [ -z "${ver:-}" ]; then
	ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
	name=main
	[ -d "/etc/postgresql/$ver/$name" ] && name=coffer
	echo "postgres: creating cluster $ver/$name on port $port"
	pg_createcluster "$ver" "$name" --port "$port" >/dev/null
	status=down
fi

hba="/etc/postgresql/$ver/$name/pg_hba.conf"
if ! grep -qE '^host[[:space:]]+all[[:space:]]+postgres[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
	echo "postgres: letting user postgres in from this host without a password ($hba)"
	sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
	[ "$status" = online ] && pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
fi
if [ "$status" != online ]; then
	echo "postgres: starting cluster $ver/$name"
	pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
fi

for _ in $(seq 1 30); do
	answers && exit 0
	sleep 1
done
echo "PostgreSQL does not let user postgres in on 127.0.0.1:$port; see /var/log/postgresql/postgresql-$ver-$name.log" >&2
exit 1
