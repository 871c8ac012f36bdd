#!/usr/bin/env bash
# Single-node HDFS + YARN (+ JobHistory) cluster for tests, using Hadoop's own
# CLI MiniCluster (org.apache.hadoop.mapreduce.MiniHadoopClusterManager) on
# the jars from fetch_hadoop.sh, all in one JVM.
#
#   minicluster.sh start    start (no-op if already up); prints the client
#                           conf dir (use: bin/hadoop --config DIR ...)
#   minicluster.sh stop     stop it (and any task containers it left behind)
#   minicluster.sh status   exit 0 and print the conf dir if up, else exit 1
#   minicluster.sh confdir  print the client conf dir
#   minicluster.sh env      print the environment of a gateway machine of this
#                           cluster (eval "$(minicluster.sh env)"): HADOOP_HOME,
#                           HADOOP_CONF_DIR, PATH, YARN_LOG_DIR, ... -- what a
#                           real Hadoop installation sets, so that mrjob finds
#                           hadoop, the streaming jar and the task logs itself
#
# Environment:
#   MR_RNN_CLUSTER_DIR         scratch dir (default /tmp/mr_rnn_cluster); the
#                              cluster's data (HDFS, NM dirs, logs) lives in
#                              $DIR/work and is wiped on every start
#   MR_RNN_CLUSTER_PORT_BASE   base of the fixed ports (default 18000):
#                              NN +20, NN http +70, RM +32, RM scheduler +30,
#                              RM tracker +31, RM admin +33, RM web +88,
#                              JHS +10, JHS admin +34, JHS web +89
#   MR_RNN_CLUSTER_TIMEOUT     seconds to wait for start-up (default 240)
#   MR_RNN_CLUSTER_NM_MB       NodeManager memory (default 4096)
#
# Only one cluster per port base can run on a machine. Logs: $DIR/cluster.log
# (daemons), $DIR/work/logs/userlogs/APPLICATION/CONTAINER/{stderr,syslog}
# (containers: the layout of a real NodeManager's yarn.nodemanager.log-dirs,
# where mrjob looks for task logs, $YARN_LOG_DIR/userlogs).
set -euo pipefail

here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
hadoop="$here/bin/hadoop"
dir=${MR_RNN_CLUSTER_DIR:-/tmp/mr_rnn_cluster}
base=${MR_RNN_CLUSTER_PORT_BASE:-18000}
timeout=${MR_RNN_CLUSTER_TIMEOUT:-240}
nm_mb=${MR_RNN_CLUSTER_NM_MB:-4096}

nn_port=$((base + 20)); nn_http_port=$((base + 70))
rm_port=$((base + 32)); rm_sched_port=$((base + 30))
rm_tracker_port=$((base + 31)); rm_admin_port=$((base + 33))
rm_web_port=$((base + 88))
jhs_port=$((base + 10)); jhs_admin_port=$((base + 34)); jhs_web_port=$((base + 89))

pidfile="$dir/cluster.pid"
logfile="$dir/cluster.log"
details="$dir/details.json"
work="$dir/work"
conf="$dir/conf-cluster"
userlogs="$work/logs/userlogs"
serverconf="$dir/conf-server"
# On HDFS: Hadoop's default dir, where mrjob looks for job history logs
# (hdfs:///tmp/hadoop-yarn/staging), but spelled with a trailing slash.
# MiniMRYarnCluster replaces exactly the default string (or none) by a local
# dir of its own on the daemon side only, and then the client/AM and the
# JobHistoryServer disagree on it (NOTES.md, correction 6); HDFS paths ignore
# the slash.
staging=/tmp/hadoop-yarn/staging/

log() { echo "minicluster.sh: $*" >&2; }

# --- settings --------------------------------------------------------------
# Needed by the daemons (passed with -D) AND by the clients (conf-cluster).
common_props=(
  "yarn.resourcemanager.address=localhost:$rm_port"
  "yarn.resourcemanager.scheduler.address=localhost:$rm_sched_port"
  "yarn.resourcemanager.resource-tracker.address=localhost:$rm_tracker_port"
  "yarn.resourcemanager.admin.address=localhost:$rm_admin_port"
  "yarn.resourcemanager.webapp.address=localhost:$rm_web_port"
  "mapreduce.jobhistory.address=localhost:$jhs_port"
  "mapreduce.jobhistory.admin.address=localhost:$jhs_admin_port"
  "mapreduce.jobhistory.webapp.address=localhost:$jhs_web_port"
  "yarn.app.mapreduce.am.staging-dir=$staging"
  # containers take the client's classpath (MRApps.setMRFrameworkClasspath)
  "yarn.is.minicluster=true"
  # NodeManager: small, never "unhealthy" because of a fullish disk
  "yarn.nodemanager.resource.memory-mb=$nm_mb"
  "yarn.nodemanager.resource.cpu-vcores=4"
  "yarn.scheduler.minimum-allocation-mb=256"
  "yarn.scheduler.maximum-allocation-mb=$nm_mb"
  "yarn.nodemanager.vmem-check-enabled=false"
  "yarn.nodemanager.pmem-check-enabled=false"
  "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage=99"
  "yarn.nodemanager.disk-health-checker.min-free-space-per-disk-mb=100"
  "yarn.nodemanager.env-whitelist=JAVA_HOME,HADOOP_COMMON_HOME,HADOOP_HDFS_HOME,HADOOP_CONF_DIR,CLASSPATH_PREPEND_DISTCACHE,HADOOP_YARN_HOME,HADOOP_HOME,PATH,LANG,TZ"
  # keep container dirs/logs a little while after the app (debugging)
  "yarn.nodemanager.delete.debug-delay-sec=600"
  # a small cluster answers fast: NodeManager heartbeats (container
  # allocation happens on them) every 250 ms instead of 1 s
  "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms=250"
  "dfs.replication=1"
  "dfs.permissions.enabled=false"
)
# Needed only by clients / jobs (they travel in job.xml).
client_props=(
  "fs.defaultFS=hdfs://localhost:$nn_port"
  "mapreduce.framework.name=yarn"
  # JDK 17: add the --add-opens set to AM and task JVM command lines
  "mapreduce.jvm.add-opens-as-default=true"
  "yarn.app.mapreduce.am.resource.mb=512"
  "yarn.app.mapreduce.am.command-opts=-Xmx400m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
  "mapreduce.map.memory.mb=512"
  "mapreduce.reduce.memory.mb=512"
  "mapreduce.map.java.opts=-Xmx300m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
  "mapreduce.reduce.java.opts=-Xmx300m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
  "mapreduce.task.io.sort.mb=32"
  # reducers start only when the maps are done: never starve a small node
  "mapreduce.job.reduce.slowstart.completedmaps=1.0"
  "mapreduce.job.ubertask.enable=false"
  # poll the AM / the job 4x as often as the defaults (1 s, 1 s, 5 s): a
  # short job should not wait seconds to learn that a task or it is done
  "yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms=250"
  "mapreduce.client.progressmonitor.pollinterval=250"
  "mapreduce.client.completion.pollinterval=250"
)

write_xml() {  # write_xml FILE key=value...
  local file=$1; shift
  {
    echo '<?xml version="1.0"?>'
    echo '<!-- written by tests/hadoop/minicluster.sh -->'
    echo '<configuration>'
    local kv
    for kv in "$@"; do
      local k=${kv%%=*} v=${kv#*=}
      v=${v//&/&amp;}; v=${v//</&lt;}; v=${v//>/&gt;}
      printf '  <property><name>%s</name><value>%s</value></property>\n' "$k" "$v"
    done
    echo '</configuration>'
  } > "$file.tmp"
  mv "$file.tmp" "$file"
}

write_confs() {
  mkdir -p "$conf" "$serverconf"
  write_xml "$conf/core-site.xml" "fs.defaultFS=hdfs://localhost:$nn_port"
  write_xml "$conf/hdfs-site.xml" "dfs.replication=1" "dfs.permissions.enabled=false"
  local y=() m=() kv
  for kv in "${common_props[@]}" "${client_props[@]}"; do
    case "$kv" in
      fs.defaultFS=*|dfs.*) ;;
      mapreduce.*|yarn.app.mapreduce.*) m+=("$kv") ;;
      *) y+=("$kv") ;;
    esac
  done
  write_xml "$conf/yarn-site.xml" "${y[@]}"
  write_xml "$conf/mapred-site.xml" "${m[@]}"
  cp "$here/conf-local/log4j.properties" "$conf/log4j.properties"
  # the daemons log to stderr (-> cluster.log) with the same layout
  cp "$here/conf-local/log4j.properties" "$serverconf/log4j.properties"
}

# --- process helpers ---------------------------------------------------------
cluster_pid() {  # prints the pid if our cluster JVM is alive
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against pid reuse
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null \
    | grep -q "MiniHadoopClusterManager.*-writeDetails $details" || return 1
  echo "$pid"
}

fs_ok() {
  MR_RNN_HADOOP_LIB=$lib "$hadoop" --config "$conf" fs -ls / >/dev/null 2>&1
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

container_pids() {  # processes (other than the cluster) working under $work
  local p cwd
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ "$p" == "${1:-}" ]] && continue
    cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue
    [[ "$cwd" == "$work"/* ]] && echo "$p"
  done
  return 0
}

do_stop() {
  local pid pids
  if pid=$(cluster_pid); then
    log "stopping cluster (pid $pid)"
    pids=$(container_pids "$pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "cluster did not exit on TERM; killing"
      kill -9 "$pid" 2>/dev/null || true
    fi
    pids="$pids $(container_pids)"
    for p in $pids; do
      kill -9 "$p" 2>/dev/null || true
    done
  else
    log "not running"
  fi
  rm -f "$pidfile" "$details"
}

do_start() {
  local pid
  lib=$("$here/fetch_hadoop.sh")
  export MR_RNN_HADOOP_LIB=$lib
  if pid=$(cluster_pid); then
    if fs_ok; then
      log "already running (pid $pid)"
      echo "$conf"
      return 0
    fi
    log "pid $pid is alive but HDFS does not answer; restarting"
    do_stop
  fi
  rm -f "$pidfile" "$details"

  local p busy=()
  for p in $nn_port $nn_http_port $rm_port $rm_sched_port $rm_tracker_port \
           $rm_admin_port $rm_web_port $jhs_port $jhs_admin_port $jhs_web_port; do
    port_in_use "$p" && busy+=("$p")
  done
  if (( ${#busy[@]} )); then
    log "ports already in use: ${busy[*]} (another cluster? set MR_RNN_CLUSTER_PORT_BASE)"
    return 1
  fi

  mkdir -p "$dir"
  rm -rf "$work"
  mkdir -p "$work"
  write_confs

  local dargs=() kv
  for kv in "${common_props[@]}"; do dargs+=(-D "$kv"); done
  dargs+=(
    -D "hadoop.tmp.dir=$work/hadoop-tmp"
    # What a node of a real cluster has: a `hadoop` command (PATH below) with
    # a client configuration that names the cluster: mrjob's mapper_raw tasks
    # run `hadoop fs -copyToLocal hdfs:///...` in their container.
    -D "yarn.nodemanager.admin-env.HADOOP_CONF_DIR=$conf"
    -D "yarn.nodemanager.admin-env.MR_RNN_HADOOP_LIB=$lib"
  )

  log "starting (dir $dir, NN $nn_port, RM $rm_port, JHS $jhs_port); log: $logfile"
  local t0=$SECONDS
  (
    cd "$work"   # MiniDFSCluster/MiniYARNCluster write under ./target
    export HADOOP_CONF_DIR=$serverconf
    export HADOOP_HEAPSIZE_MAX=${MR_RNN_CLUSTER_HEAP:-1536m}
    export MR_RNN_HADOOP_FAST_JVM=""   # long-lived: keep the full JIT
    export PATH="$here/bin:$PATH"      # containers inherit the NodeManager's PATH
    export HADOOP_OPTS="-Dtest.build.data=$work/test-data -Djava.io.tmpdir=$work/java-tmp"
    mkdir -p "$work/java-tmp"
    exec setsid "$hadoop" org.apache.hadoop.mapreduce.MiniHadoopClusterManager \
      -format -nodemanagers 1 -datanodes 1 \
      -nnport "$nn_port" -nnhttpport "$nn_http_port" \
      -rmport "$rm_port" -jhsport "$jhs_port" \
      -writeConfig "$dir/server-conf.xml" -writeDetails "$details" \
      "${dargs[@]}" </dev/null >"$logfile" 2>&1
  ) &
  pid=$!
  echo "$pid" > "$pidfile"

  while [[ ! -s "$details" ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "cluster process died; last lines of $logfile:"
      tail -n 30 "$logfile" >&2
      rm -f "$pidfile"
      return 1
    fi
    if (( SECONDS - t0 > timeout )); then
      log "timed out after ${timeout}s waiting for $details"
      do_stop
      return 1
    fi
    sleep 1
  done
  until fs_ok; do
    if (( SECONDS - t0 > timeout )); then
      log "timed out after ${timeout}s waiting for HDFS"
      do_stop
      return 1
    fi
    sleep 1
  done
  link_userlogs
  log "up after $((SECONDS - t0))s: $(cat "$details")"
  echo "$conf"
}

# MiniYARNCluster ignores yarn.nodemanager.log-dirs and makes 4 log dirs of its
# own (.../yarn-*/MiniHadoopClusterManager-logDir-nm-0_{0..3}). Point all of
# them at one real directory, $work/logs/userlogs, so that container logs sit
# where a real NodeManager puts them by default (${yarn.log.dir}/userlogs) and
# where mrjob looks for them ($YARN_LOG_DIR/userlogs/APPLICATION_ID).
# Done right after start-up, before any container exists.
link_userlogs() {
  mkdir -p "$userlogs"
  local d
  for d in "$work"/test-data/MiniHadoopClusterManager/yarn-*/MiniHadoopClusterManager-logDir-nm-*; do
    [[ -L "$d" ]] && continue
    if [[ -d "$d" ]] && rmdir "$d" 2>/dev/null; then
      ln -s "$userlogs" "$d"
    else
      log "warning: $d is not an empty directory; its container logs stay there"
    fi
  done
}

print_env() {
  lib=$("$here/fetch_hadoop.sh")
  printf 'export HADOOP_HOME=%q\n' "$here"
  printf 'export HADOOP_CONF_DIR=%q\n' "$conf"
  printf 'export HADOOP_MAPRED_HOME=%q\n' "$lib"     # mrjob finds the streaming jar here
  printf 'export MR_RNN_HADOOP_LIB=%q\n' "$lib"
  printf 'export YARN_LOG_DIR=%q\n' "$work/logs"     # task logs: $YARN_LOG_DIR/userlogs
  printf 'export PATH=%q:$PATH\n' "$here/bin"
}

case "${1:-}" in
  start) do_start ;;
  stop) do_stop ;;
  restart) do_stop; do_start ;;
  status)
    lib=$("$here/fetch_hadoop.sh")
    if pid=$(cluster_pid) && fs_ok; then
      log "running (pid $pid)"
      echo "$conf"
    else
      log "not running"
      exit 1
    fi
    ;;
  confdir) echo "$conf" ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|restart|status|confdir|env" >&2; exit 2 ;;
esac
