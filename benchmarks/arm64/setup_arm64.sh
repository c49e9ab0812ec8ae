#!/usr/bin/env bash
# Set up an emulated arm64 CPython 3.11 (qemu-user-static + Debian arm64 packages + aarch64 wheels).
#
# Usage: bash benchmarks/arm64/setup_arm64.sh [--force] [--no-count]
#
# Everything is cached under ${FETALEDGE_ARM64_HOME:-$HOME/.cache/fetaledge/arm64}:
#   debs/     the Debian arm64 .deb files          sysroot/  those .debs unpacked with dpkg -x
#   wheels/   the aarch64 wheels                    site/     those wheels installed (PYTHONPATH)
#   READY     written after the smoke check passed (fetaledge.emulate checks for it)
#   plugin/   libinsn.so: qemu's TCG instruction-count plugin, compiled from Debian's own qemu source package
#             (tests/plugin/insn.c; only that file and the plugin header are kept, no qemu code is committed)
#   COUNT_READY written last, after the plugin counted an arm64 python start (fetaledge.bench.arm_count)
# Each step writes a stamp with its inputs and is skipped when the stamp matches, so a second run does no
# download and takes a few seconds (the smoke check under qemu). --force redoes every step.
#
# Why these versions (DESIGN.md section 6): under Debian bookworm's qemu 7.2, onnxruntime 1.22.1 and
# ai-edge-litert 1.4.0 run; onnxruntime 1.32 and ai-edge-litert 2.3 crash (SIGSEGV). Emulated timings are
# NOT device timings.
#
# --no-count skips step 6 (qemu-user, the instruction-count plugin: about 40 MB of packages and sources once).
# The dynamically linked qemu-user is needed there because qemu-user-static cannot load plugins.
#
# Environment overrides: FETALEDGE_ARM64_HOME, FETALEDGE_PYTHON (a host python with pip, used only to download
# and install the wheels; default: the project's .venv, else python3).
set -euo pipefail

HOME_DIR="${FETALEDGE_ARM64_HOME:-$HOME/.cache/fetaledge/arm64}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

DEB_PACKAGES=(
  python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libexpat1 zlib1g libssl3 libffi8
  libbz2-1.0 liblzma5 libstdc++6 libgcc-s1 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libuuid1
  libcrypt1 libdb5.3 libgdbm6 libnsl2 libtirpc3
)
# Pinned: the versions that run under qemu 7.2. Dependencies (flatbuffers, protobuf, ...) are resolved by pip.
WHEEL_SPECS=(numpy==2.2.6 onnxruntime==1.22.1 ai-edge-litert==1.4.0)
# onnxruntime 1.22.1 is tagged manylinux_2_27/2_28, ai-edge-litert 1.4.0 manylinux_2_17: pip needs every tag
# named (bookworm's glibc is 2.36, so all of them load).
WHEEL_PLATFORMS=(manylinux2014_aarch64 manylinux_2_17_aarch64 manylinux_2_27_aarch64 manylinux_2_28_aarch64)
QEMU=qemu-aarch64-static

FORCE=0
COUNT=1
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --no-count) COUNT=0 ;;
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup_arm64: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

T0=$(date +%s)
log() { printf '[setup_arm64 %3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() {
  printf 'setup_arm64: ERROR: %s\n' "$1" >&2
  [ -n "${2:-}" ] && printf 'setup_arm64: fix: %s\n' "$2" >&2
  exit 1
}

# stamp_ok FILE CONTENT: true when FILE exists with exactly CONTENT (and --force was not given).
stamp_ok() { [ "$FORCE" = 0 ] && [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# Root for apt: root itself, else sudo when present.
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi
as_root() {
  if [ "$(id -u)" != 0 ] && [ ${#SUDO[@]} = 0 ]; then
    die "this step needs root: $*" "run this script as root, or install sudo"
  fi
  "${SUDO[@]}" "$@"
}
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
APT_UPDATED=0
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return 0
  log "apt-get update"
  as_root apt-get "${APT_OPTS[@]}" update -q >"$HOME_DIR/apt-update.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/apt-update.log" >&2
         die "apt-get update failed (log: $HOME_DIR/apt-update.log)" \
             "check that the Debian mirror in /etc/apt/sources.list(.d) is reachable"; }
  grep -E '^(Fetched|W:|E:)' "$HOME_DIR/apt-update.log" | sed 's/^/    /' || true
  APT_UPDATED=1
}

command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
  || die "dpkg/apt-get not found" "this script needs a Debian-based machine (Debian 12 bookworm is tested)"
mkdir -p "$HOME_DIR"
log "cache: $HOME_DIR"

# ---- 1. qemu-user-static ---------------------------------------------------------------------------------
if command -v "$QEMU" >/dev/null 2>&1; then
  log "qemu: $("$QEMU" --version | head -n 1)"
else
  apt_update
  log "apt-get install qemu-user-static"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends \
      qemu-user-static >"$HOME_DIR/apt-install.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/apt-install.log" >&2
         die "apt-get install qemu-user-static failed (log: $HOME_DIR/apt-install.log)" \
             "check that the Debian mirror is reachable, then rerun"; }
  command -v "$QEMU" >/dev/null 2>&1 || die "$QEMU still not on PATH after installing qemu-user-static"
  log "qemu: $("$QEMU" --version | head -n 1)"
fi

# ---- 2. Debian arm64 packages -> debs/ ----------------------------------------------------------------------
DEBS="$HOME_DIR/debs"
DEB_STAMP_CONTENT="${DEB_PACKAGES[*]}"
if stamp_ok "$DEBS/.complete" "$DEB_STAMP_CONTENT"; then
  log "debs: cached ($(ls "$DEBS"/*.deb | wc -l) files)"
else
  if ! grep -qx arm64 <<<"$(dpkg --print-foreign-architectures)"; then
    log "dpkg --add-architecture arm64"
    as_root dpkg --add-architecture arm64
    APT_UPDATED=0  # the arm64 lists are fetched by the next update
  fi
  apt_update
  grep -q 'Candidate: [0-9]' <<<"$(apt-cache policy python3.11-minimal:arm64 2>/dev/null)" \
    || die "apt has no arm64 package lists after apt-get update" \
           "check that the Debian mirror is reachable and that /etc/apt/sources.list(.d) has no 'Architectures:' line excluding arm64"
  rm -rf "$DEBS.partial"; mkdir -p "$DEBS.partial"
  chmod 777 "$DEBS.partial"  # apt's _apt sandbox user writes here when run as root
  log "apt-get download ${#DEB_PACKAGES[@]} arm64 packages"
  pkgs=(); for p in "${DEB_PACKAGES[@]}"; do pkgs+=("$p:arm64"); done
  (cd "$DEBS.partial" && apt-get "${APT_OPTS[@]}" download -q "${pkgs[@]}") >"$HOME_DIR/apt-download.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/apt-download.log" >&2
         die "apt-get download of the arm64 packages failed (log: $HOME_DIR/apt-download.log)" \
             "a package name may have changed in Debian: edit DEB_PACKAGES in $0 (apt-cache search NAME)"; }
  chmod 755 "$DEBS.partial"
  printf '%s' "$DEB_STAMP_CONTENT" >"$DEBS.partial/.complete"
  rm -rf "$DEBS"; mv "$DEBS.partial" "$DEBS"
  log "debs: $(ls "$DEBS"/*.deb | wc -l) files, $(du -sm "$DEBS" | cut -f1) MB"
fi

# ---- 3. debs -> sysroot/ ---------------------------------------------------------------------------------
SYSROOT="$HOME_DIR/sysroot"
SYS_STAMP_CONTENT="$(cd "$DEBS" && ls -- *.deb)"
if stamp_ok "$SYSROOT/.complete" "$SYS_STAMP_CONTENT" && [ -x "$SYSROOT/usr/bin/python3.11" ]; then
  log "sysroot: cached"
else
  log "dpkg -x -> sysroot"
  rm -rf "$SYSROOT.partial"; mkdir -p "$SYSROOT.partial"
  for deb in "$DEBS"/*.deb; do
    dpkg -x "$deb" "$SYSROOT.partial" || die "dpkg -x failed on $deb" "delete $DEBS and rerun"
  done
  [ -x "$SYSROOT.partial/usr/bin/python3.11" ] || die "no usr/bin/python3.11 in the unpacked sysroot"
  printf '%s' "$SYS_STAMP_CONTENT" >"$SYSROOT.partial/.complete"
  rm -rf "$SYSROOT"; mv "$SYSROOT.partial" "$SYSROOT"
fi

# ---- 4. aarch64 wheels -> wheels/ -> site/ ------------------------------------------------------------------
HOST_PY="${FETALEDGE_PYTHON:-}"
if [ -z "$HOST_PY" ]; then
  if [ -x "$REPO_ROOT/.venv/bin/python" ]; then HOST_PY="$REPO_ROOT/.venv/bin/python"; else HOST_PY=python3; fi
fi
PIP_PLATFORM_ARGS=(--only-binary=:all: --python-version 3.11 --implementation cp)
for p in "${WHEEL_PLATFORMS[@]}"; do PIP_PLATFORM_ARGS+=(--platform "$p"); done

WHEELS="$HOME_DIR/wheels"
WHEEL_STAMP_CONTENT="${WHEEL_SPECS[*]} | ${WHEEL_PLATFORMS[*]}"
if stamp_ok "$WHEELS/.complete" "$WHEEL_STAMP_CONTENT"; then
  log "wheels: cached ($(ls "$WHEELS"/*.whl | wc -l) files)"
else
  "$HOST_PY" -m pip --version >/dev/null 2>&1 \
    || die "no pip for host python '$HOST_PY'" "set FETALEDGE_PYTHON to a python that has pip"
  log "pip download ${WHEEL_SPECS[*]} (aarch64, cp311)"
  rm -rf "$WHEELS.partial"; mkdir -p "$WHEELS.partial"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$HOST_PY" -m pip download -q --dest "$WHEELS.partial" \
      "${PIP_PLATFORM_ARGS[@]}" "${WHEEL_SPECS[@]}" >"$HOME_DIR/pip-download.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/pip-download.log" >&2
         die "pip download of the aarch64 wheels failed (log: $HOME_DIR/pip-download.log)" \
             "check that PyPI is reachable from pip ($HOST_PY -m pip config list)"; }
  printf '%s' "$WHEEL_STAMP_CONTENT" >"$WHEELS.partial/.complete"
  rm -rf "$WHEELS"; mv "$WHEELS.partial" "$WHEELS"
  log "wheels: $(ls "$WHEELS"/*.whl | wc -l) files, $(du -sm "$WHEELS" | cut -f1) MB"
fi

SITE="$HOME_DIR/site"
SITE_STAMP_CONTENT="$(cd "$WHEELS" && ls -- *.whl)"
if stamp_ok "$SITE/.complete" "$SITE_STAMP_CONTENT"; then
  log "site: cached"
else
  log "pip install --target site (offline, from wheels/)"
  rm -rf "$SITE.partial"
  # --target with --platform installs the foreign wheels without running them; host-compiled .pyc files are
  # valid for the arm64 3.11 too and spare the emulated python from compiling on each first import.
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$HOST_PY" -m pip install -q --no-index --no-deps --target "$SITE.partial" \
      "${PIP_PLATFORM_ARGS[@]}" "$WHEELS"/*.whl >"$HOME_DIR/pip-install.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/pip-install.log" >&2
         die "installing the wheels into $SITE failed (log: $HOME_DIR/pip-install.log)" "rerun with --force"; }
  printf '%s' "$SITE_STAMP_CONTENT" >"$SITE.partial/.complete"
  rm -rf "$SITE"; mv "$SITE.partial" "$SITE"
fi

# ---- 5. smoke check under qemu -------------------------------------------------------------------------------
log "smoke check: import numpy, onnxruntime, ai_edge_litert under $QEMU"
rm -f "$HOME_DIR/READY"
SMOKE='
import importlib.metadata as md, platform, sys
import numpy, onnxruntime, ai_edge_litert
from ai_edge_litert.interpreter import Interpreter  # loads the native library
print("python", platform.python_version(), platform.machine())
for dist in ("numpy", "onnxruntime", "ai-edge-litert"):
    print(dist, md.version(dist))
print("onnxruntime providers", ",".join(onnxruntime.get_available_providers()))
'
if ! SMOKE_OUT=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD -u PYTHONHOME -u PYTHONSTARTUP \
      QEMU_LD_PREFIX="$SYSROOT" PYTHONPATH="$SITE" PYTHONNOUSERSITE=1 \
      "$QEMU" "$SYSROOT/usr/bin/python3.11" -c "$SMOKE" 2>&1); then
  printf '%s\n' "$SMOKE_OUT" >&2
  die "the arm64 python failed the smoke check" "rerun with --force; if it crashes (SIGSEGV), check the pinned versions"
fi
printf '%s\n' "$SMOKE_OUT" | sed 's/^/    /'
printf '%s\n' "$SMOKE_OUT" >"$HOME_DIR/READY"
log "arm64 python ready (emulated: timings under qemu are not device timings)"

# ---- 6. qemu-user + the TCG instruction-count plugin ---------------------------------------------------------
[ "$COUNT" = 1 ] || { log "done (--no-count: no instruction-count plugin)"; exit 0; }
QEMU_DYN=qemu-aarch64
apt_install() {  # apt_install LOGNAME PACKAGE...
  local name="$1"; shift
  apt_update
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "$@" \
      >"$HOME_DIR/apt-install-$name.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/apt-install-$name.log" >&2
         die "apt-get install $* failed (log: $HOME_DIR/apt-install-$name.log)" \
             "check that the Debian mirror is reachable, then rerun"; }
}
command -v "$QEMU_DYN" >/dev/null 2>&1 || apt_install qemu-user qemu-user
command -v "$QEMU_DYN" >/dev/null 2>&1 || die "$QEMU_DYN not on PATH after installing qemu-user"
pkg-config --exists glib-2.0 2>/dev/null || apt_install glib libglib2.0-dev
command -v gcc >/dev/null 2>&1 || apt_install gcc gcc
# The plugin must come from the same qemu release as the binary that loads it (the plugin API is versioned).
QEMU_SRC_VERSION="$(dpkg-query -W -f='${source:Version}' qemu-user 2>/dev/null || true)"
[ -n "$QEMU_SRC_VERSION" ] || die "cannot tell which qemu source version qemu-user was built from" \
                                   "install Debian's qemu-user package (apt-get install qemu-user)"
PLUGIN="$HOME_DIR/plugin"
PLUGIN_STAMP_CONTENT="qemu $QEMU_SRC_VERSION insn.c"
if stamp_ok "$PLUGIN/.complete" "$PLUGIN_STAMP_CONTENT" && [ -f "$PLUGIN/libinsn.so" ]; then
  log "plugin: cached (qemu $QEMU_SRC_VERSION)"
else
  if ! apt-cache showsrc qemu 2>/dev/null | grep -q '^Package: qemu'; then
    # A deb-src twin of the Debian entries: apt-get source needs source indexes.
    SRC_LIST=/etc/apt/sources.list.d/fetaledge-deb-src.sources
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      log "adding deb-src entries ($SRC_LIST, from debian.sources)"
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | as_root tee "$SRC_LIST" >/dev/null
    elif [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
      SRC_LIST=/etc/apt/sources.list.d/fetaledge-deb-src.list
      log "adding deb-src entries ($SRC_LIST, from sources.list)"
      grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | as_root tee "$SRC_LIST" >/dev/null
    else
      die "no Debian apt source found to make a deb-src entry from" \
          "add a deb-src line for your Debian mirror to /etc/apt/sources.list.d/ and rerun"
    fi
    APT_UPDATED=0
    apt_update
  fi
  rm -rf "$PLUGIN.partial"; mkdir -p "$PLUGIN.partial/src"
  chmod 777 "$PLUGIN.partial/src"  # apt's _apt sandbox user writes here when run as root
  log "apt-get source --download-only qemu=$QEMU_SRC_VERSION"
  (cd "$PLUGIN.partial/src" && apt-get "${APT_OPTS[@]}" source -q --download-only "qemu=$QEMU_SRC_VERSION") \
      >"$HOME_DIR/apt-source.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/apt-source.log" >&2
         die "apt-get source qemu=$QEMU_SRC_VERSION failed (log: $HOME_DIR/apt-source.log)" \
             "check the deb-src entry and that the mirror still carries this version"; }
  ORIG=$(ls "$PLUGIN.partial/src"/qemu_*.orig.tar.* 2>/dev/null | head -n 1)
  [ -n "$ORIG" ] || die "no qemu orig tarball in the downloaded source package (log: $HOME_DIR/apt-source.log)"
  log "unpacking tests/plugin/insn.c and include/qemu/qemu-plugin.h from $(basename "$ORIG")"
  tar -xf "$ORIG" -C "$PLUGIN.partial" --strip-components=1 --wildcards \
      '*/tests/plugin/insn.c' '*/include/qemu/qemu-plugin.h' \
    || die "the qemu source tarball has no tests/plugin/insn.c" "rerun with --force"
  rm -rf "$PLUGIN.partial/src"  # the 100 MB tarball is not kept
  log "gcc -shared libinsn.so"
  # shellcheck disable=SC2046  # pkg-config prints several words on purpose
  gcc -shared -fPIC -O2 -I"$PLUGIN.partial/include/qemu" $(pkg-config --cflags glib-2.0) \
      -o "$PLUGIN.partial/libinsn.so" "$PLUGIN.partial/tests/plugin/insn.c" $(pkg-config --libs glib-2.0) \
    || die "compiling the qemu instruction-count plugin failed" "check gcc and libglib2.0-dev, rerun with --force"
  printf '%s' "$PLUGIN_STAMP_CONTENT" >"$PLUGIN.partial/.complete"
  rm -rf "$PLUGIN"; mv "$PLUGIN.partial" "$PLUGIN"
fi
rm -f "$HOME_DIR/COUNT_READY"
log "count check: arm64 python start under $QEMU_DYN -plugin libinsn.so"
if ! COUNT_OUT=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD -u PYTHONHOME -u PYTHONSTARTUP \
      QEMU_LD_PREFIX="$SYSROOT" PYTHONPATH="$SITE" PYTHONNOUSERSITE=1 PYTHONHASHSEED=0 \
      "$QEMU_DYN" -cpu cortex-a76 -plugin "$PLUGIN/libinsn.so,inline=on" -d plugin \
      "$SYSROOT/usr/bin/python3.11" -S -c pass 2>&1) || ! grep -q 'insns: [0-9]' <<<"$COUNT_OUT"; then
  printf '%s\n' "$COUNT_OUT" | tail -n 20 >&2
  die "qemu-aarch64 did not count instructions with the plugin" "rerun with --force"
fi
log "    $(grep 'insns:' <<<"$COUNT_OUT" | tail -n 1) (python -S -c pass, cortex-a76)"
printf '%s\n%s\n' "$PLUGIN_STAMP_CONTENT" "$($QEMU_DYN --version | head -n 1)" >"$HOME_DIR/COUNT_READY"
log "done: arm64 python ready, instruction counts ready (counts are instructions, not time)"
