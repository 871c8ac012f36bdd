#!/usr/bin/env bash
# Gather the jars of the Hadoop described by pom.xml (next to this script)
# from Maven Central into a cache directory keyed by the pom's sha256, and
# print that directory (.../<sha256 of pom.xml>/lib) on stdout.
#
#   MR_RNN_HADOOP_CACHE  cache root (default: $HOME/.cache/mr_rnn/hadoop)
#   MVN                  maven command, word-split (default: mvn), e.g.
#                        MVN="mvn -Dmaven.repo.local=/tmp/m2"
#   MR_RNN_HADOOP_OFFLINE=1  never download: exit 3 when the jars are not cached
#                        (the tests: `make test` fetches them before pytest)
#
# Idempotent and safe to run concurrently (flock); once cached it only hashes
# the pom and prints the path. Everything except the path goes to stderr.
set -euo pipefail

here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
pom="$here/pom.xml"
cache_root=${MR_RNN_HADOOP_CACHE:-$HOME/.cache/mr_rnn/hadoop}
key=$(sha256sum "$pom" | cut -d' ' -f1)
dest="$cache_root/$key"
lib="$dest/lib"

if [[ -d "$lib" ]]; then
  echo "$lib"
  exit 0
fi

if [[ -n "${MR_RNN_HADOOP_OFFLINE:-}" ]]; then
  echo "fetch_hadoop.sh: the Hadoop jars are not in $cache_root and MR_RNN_HADOOP_OFFLINE is set" >&2
  exit 3
fi

mkdir -p "$dest"
exec 9>"$dest/.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
# another process may have finished while we waited for the lock
if [[ -d "$lib" ]]; then
  echo "$lib"
  exit 0
fi

tmp="$dest/lib.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "fetch_hadoop.sh: downloading Hadoop jars into $lib (one-off) ..." >&2
start=$(date +%s)
# -f: run against our pom without cd-ing; output of maven goes to stderr
# shellcheck disable=SC2086
${MVN:-mvn} -B -q -Dstyle.color=never -f "$pom" \
  org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
if ! ls "$tmp"/hadoop-common-*.jar >/dev/null 2>&1 \
   || ! ls "$tmp"/hadoop-streaming-*.jar >/dev/null 2>&1; then
  echo "fetch_hadoop.sh: maven did not produce the expected jars in $tmp" >&2
  exit 1
fi
cp "$pom" "$dest/pom.xml"
mv "$tmp" "$lib"          # atomic: $lib exists only when complete
trap - EXIT
echo "fetch_hadoop.sh: done in $(( $(date +%s) - start ))s" >&2
echo "$lib"
