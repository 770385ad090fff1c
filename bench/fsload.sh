#!/bin/sh
# fsload.sh DIR TAR: the file-heavy workload of the fs section. Extract TAR
# (thousands of small files) under DIR, read every file, delete them all.
# Runs under busybox sh with busybox applets everywhere (host and sandbox),
# so every environment runs the very same code.
set -e
mkdir -p "$1"
cd "$1"
tar xf "$2"
find files -type f | xargs cat >/dev/null
rm -rf files
