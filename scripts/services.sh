#!/usr/bin/env bash
# Start or stop the real services the tests need, on loopback only, and install the tools
# they use (espeak-ng, ffmpeg, Chromium, nginx) when missing.
#   scripts/services.sh start   install (apt) what is missing, start what is not running
#   scripts/services.sh stop    stop only what `start` started
# Ports: Redis 6379, Mosquitto 1883, InfluxDB 8086 (override with WILLAY_TEST_*_PORT).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
run="$root/var/services"
redis_port=${WILLAY_TEST_REDIS_PORT:-6379}
mqtt_port=${WILLAY_TEST_MQTT_PORT:-1883}
influx_port=${WILLAY_TEST_INFLUX_PORT:-8086}

say() { printf '[services] %s\n' "$*"; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port
  for _ in $(seq 1 100); do
    listening "$2" && { say "$1 ready on 127.0.0.1:$2"; return 0; }
    sleep 0.1
  done
  say "$1 did not start on 127.0.0.1:$2; its log:"; cat "$run/$1.log" 2>/dev/null || true
  return 1
}

install_missing() {
  local -A need=([redis-server]=redis-server [mosquitto]=mosquitto [influxd]=influxdb
                 [chromium]=chromium [chromedriver]=chromium-driver
                 [espeak-ng]=espeak-ng [ffmpeg]=ffmpeg [nginx]=nginx)
  local missing=()
  for bin in "${!need[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || [[ -x /usr/sbin/$bin ]] || missing+=("${need[$bin]}")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    say "missing ${missing[*]} and cannot install them (not root or no apt-get); their tests will skip"
    return 0
  fi
  say "installing ${missing[*]}"
  apt-get update -qq >/dev/null
  for pkg in "${missing[@]}"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
      || say "$pkg is not available on this Debian release; its tests will skip"
  done
}

start_redis() {
  listening "$redis_port" && { say "Redis already running on $redis_port"; return; }
  command -v redis-server >/dev/null || return 0
  mkdir -p "$run/redis"
  redis-server --bind 127.0.0.1 --port "$redis_port" --daemonize yes --save "" --appendonly no \
    --dir "$run/redis" --pidfile "$run/redis.pid" --logfile "$run/redis.log"
  wait_for redis "$redis_port" && echo redis >>"$run/started"
}

start_mosquitto() {
  listening "$mqtt_port" && { say "Mosquitto already running on $mqtt_port"; return; }
  local bin; bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  [[ -x $bin ]] || return 0
  mkdir -p "$run/mosquitto"
  cat >"$run/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location $run/mosquitto/
# no per-client queue limit: a stalled bridge loses nothing (the default 1000 drops silently)
max_queued_messages 0
log_dest file $run/mosquitto.log
pid_file $run/mosquitto.pid
CONF
  "$bin" -c "$run/mosquitto.conf" -d
  wait_for mosquitto "$mqtt_port" && echo mosquitto >>"$run/started"
}

start_influxdb() {
  listening "$influx_port" && { say "InfluxDB already running on $influx_port"; return; }
  command -v influxd >/dev/null || return 0
  mkdir -p "$run/influxdb"
  INFLUXDB_META_DIR="$run/influxdb/meta" INFLUXDB_DATA_DIR="$run/influxdb/data" \
  INFLUXDB_DATA_WAL_DIR="$run/influxdb/wal" INFLUXDB_HTTP_BIND_ADDRESS="127.0.0.1:$influx_port" \
  INFLUXDB_BIND_ADDRESS="127.0.0.1:$((influx_port + 2))" INFLUXDB_REPORTING_DISABLED=true \
  INFLUXDB_HTTP_LOG_ENABLED=false INFLUXDB_DATA_QUERY_LOG_ENABLED=false \
    nohup influxd -config /dev/null >"$run/influxdb.log" 2>&1 &
  echo $! >"$run/influxdb.pid"
  wait_for influxdb "$influx_port" && echo influxdb >>"$run/started"
}

stop_all() {
  [[ -f $run/started ]] || return 0
  while read -r name; do
    if [[ -f $run/$name.pid ]]; then
      kill "$(cat "$run/$name.pid")" 2>/dev/null && say "stopped $name" || true
      rm -f "$run/$name.pid"
    fi
  done <"$run/started"
  rm -f "$run/started"
}

case ${1:-} in
  start)
    mkdir -p "$run"
    install_missing
    start_redis
    start_mosquitto
    start_influxdb
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
