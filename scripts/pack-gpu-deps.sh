#!/usr/bin/env bash
# Run HERE (Debian): copies the Debian packages the GPU machine lacks (CLI11, nlohmann-json,
# GoogleTest, Google Benchmark: headers, static/shared libs and CMake configs) into .deps/usr,
# a prefix mirror that is git-ignored and carried to the GPU machine (device tool: carry .deps).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .deps && mkdir -p .deps/usr
for pkg in libcli11-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev libbenchmark1debian; do
  dpkg -L "$pkg" | while read -r f; do
    case "$f" in /usr/share/doc/*|/usr/src/*) continue ;; esac
    if [ -f "$f" ] || [ -L "$f" ]; then
      mkdir -p ".deps/usr/$(dirname "${f#/usr/}")"
      cp -a "$f" ".deps/usr/${f#/usr/}"
    fi
  done
done
du -sh .deps
