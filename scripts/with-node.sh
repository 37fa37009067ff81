#!/usr/bin/env bash
# Runs a command on another Node.js major, installed from the npm registry (the package
# node-<platform>-<arch>@<major>, which carries the headers too), so native modules such as
# better-sqlite3 are built against it from source: nothing is downloaded but npm packages.
#
#   scripts/with-node.sh 24 npm ci
#   scripts/with-node.sh 22 sh -c 'npm ci && npm test'
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: scripts/with-node.sh <major> <command> [args...]" >&2
  exit 2
fi
major=$1
shift
package="node-$(node -p 'process.platform')-$(node -p 'process.arch')"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$package@$major" >&2
home="$prefix/node_modules/$package"
# npm itself runs on the new node (PATH); node-gyp takes its headers from npm_config_nodedir, and
# build_from_source stops prebuild-install from fetching a prebuilt binary (npm warns that it does
# not know that setting: prebuild-install reads it from the environment).
PATH="$home/bin:$PATH" npm_config_nodedir="$home" npm_config_build_from_source=true "$@"
