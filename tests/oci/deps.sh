#!/bin/bash
# deps.sh: build what the OCI suites need into the cache (OCI_CACHE,
# default .cache/oci in the repo, git-ignored): the runtime-tools
# validation programs and runtimetest (Go module proxy), podman's own
# system tests (Debian's source package of podman) and crictl (Go module
# proxy). As root it first installs the Debian packages through
# provision.sh. Each step is skipped when its result is there already.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/oci/lib.sh
mkdir -p "$OCI_CACHE"

if [ "$(id -u)" = 0 ]; then scripts/provision.sh packages; fi

# runtime-tools v0.9.0 predates modules: a throwaway module requires it and
# pins the versions it was written against (runtime-spec v1.0.2 for the
# spec it checks, the old urfave/cli and satori/go.uuid APIs it calls).
rt=$OCI_CACHE/runtime-tools
if [ ! -x "$rt/bin/runtimetest" ] || [ ! -f "$rt/bin/rootfs-amd64.tar.gz" ]; then
	echo "oci-deps: building runtime-tools $RUNTIME_TOOLS_VERSION"
	rm -rf "$rt"
	mkdir -p "$rt/mod" "$rt/bin"
	cat >"$rt/mod/go.mod" <<MOD
module rbox.local/ocitools

go 1.19

require (
	github.com/opencontainers/runtime-tools $RUNTIME_TOOLS_VERSION
	github.com/opencontainers/runtime-spec v1.0.2
	github.com/opencontainers/selinux v1.8.0
	github.com/urfave/cli v1.19.1
	github.com/sirupsen/logrus v1.8.1
	github.com/satori/go.uuid v1.2.0
	golang.org/x/sys v0.1.0
)
MOD
	cat >"$rt/mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "github.com/opencontainers/runtime-tools/cmd/runtimetest"
	_ "github.com/opencontainers/runtime-tools/validation/util"
)
GO
	(
		cd "$rt/mod"
		m=github.com/opencontainers/runtime-tools
		$GO mod tidy
		# runtimetest runs inside the test's busybox rootfs: static.
		CGO_ENABLED=0 $GO build -trimpath -o "$rt/bin/runtimetest" $m/cmd/runtimetest
		# One main package per validation/<name>; -o DIR/ names each after it.
		$GO build -trimpath -o "$rt/bin/" $m/validation/...
		# The programs untar rootfs-$GOARCH.tar.gz from their working
		# directory; it ships in the module.
		src=$($GO list -m -f '{{.Dir}}' $m)
		install -m 0644 "$src/rootfs-$($GO env GOARCH).tar.gz" "$rt/bin/"
	)
fi

# podman's system tests, of the podman the host runs, from Debian's
# source package (a deb-src entry for the host's own mirror).
pv=$OCI_CACHE/podman-src
if [ ! -d "$pv/test/system" ]; then
	[ "$(id -u)" = 0 ] || { echo "oci-deps: podman's source needs root once (apt-get source)" >&2; exit 1; }
	src_list=/etc/apt/sources.list.d/rbox-deb-src.sources
	if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
		uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
		suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
		printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
			"$uri" "$suite" >"$src_list"
		apt-get update -qq
	fi
	ver=$(dpkg-query -W -f='${source:Version}' podman)
	echo "oci-deps: apt-get source podman=$ver"
	tmp=$(mktemp -d "$OCI_CACHE/podman-src.XXXXXX")
	(cd "$tmp" && apt-get source -qq "podman=$ver" >/dev/null)
	# The source package is called libpod.
	d=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d \( -name 'libpod-*' -o -name 'podman-*' \) | head -1)
	rm -rf "$pv"
	mv "$d" "$pv"
	rm -rf "$tmp"
fi

# crictl speaking the CRI v1 that containerd 1.6 serves. The repository
# kubernetes-sigs/cri-tools is served by the module proxy as
# sigs.k8s.io/cri-tools; of the releases near containerd 1.6 it serves
# v1.30.0 here. That zip's go.mod still declares the github.com path and
# replaces k8s.io modules by kubernetes' staging trees, so neither go
# install nor a requiring module builds it: crictl builds inside a copy of
# the module (its replaces then apply), without its vendor/modules.txt
# (the zip has no vendored code), its modules through the proxy.
if [ ! -x "$OCI_CACHE/bin/crictl" ]; then
	echo "oci-deps: building crictl $CRICTL_VERSION"
	cs=$OCI_CACHE/cri-tools-src
	rm -rf "$cs"
	mkdir -p "$OCI_CACHE/bin"
	dir=$(cd "$OCI_CACHE" && $GO mod download -json "sigs.k8s.io/cri-tools@$CRICTL_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -f "$dir/go.mod" ] || { echo "oci-deps: sigs.k8s.io/cri-tools@$CRICTL_VERSION: no module in '$dir'" >&2; exit 1; }
	cp -r "$dir" "$cs"
	chmod -R u+w "$cs"
	rm -rf "$cs/vendor"
	(cd "$cs" && $GO build -mod=mod -trimpath -o "$OCI_CACHE/bin/crictl" ./cmd/crictl)
	rm -rf "$cs"
fi
echo "oci-deps: ready in $OCI_CACHE"
