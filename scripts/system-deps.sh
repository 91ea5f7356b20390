#!/usr/bin/env bash
# Debian packages the tests and demo need. Installs only what is missing, and only as root;
# otherwise says what to install. Idempotent, safe to run on every `make test`.
set -euo pipefail
need=()
# PostgreSQL server binaries (initdb, pg_ctl) for the ledger tests on a real PostgreSQL.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# nginx: the router in front of the serving slots (the agent, its tests and `make demo`).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# Containers (`ttsops image build`, container slots): rootful podman with runc (crun fails on
# cgroup v1 hybrid), and mmdebstrap to build the base image from the Debian mirror.
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
# A real browser for the dashboard and web-UI tests (playwright drives the system chromium).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# promtool (`promtool check rules` / `test rules` on the alert rules `ttsops init` writes).
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
else
  echo "warning: missing Debian packages: ${need[*]} (install them: sudo apt-get install -y ${need[*]}); tests that need them are skipped" >&2
fi
