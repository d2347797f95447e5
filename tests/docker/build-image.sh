#!/usr/bin/env bash
# Builds a local PostgreSQL image without pulling anything: a root filesystem assembled from
# this machine's PostgreSQL server binaries, the shared libraries they need, a shell and a few
# coreutils, imported with `docker import`. Usage: tests/docker/build-image.sh TAG
set -euo pipefail
tag=${1:?usage: build-image.sh TAG}
here=$(cd "$(dirname "$0")" && pwd)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgdir=$(dirname "$pgbin")
major=$(basename "$pgdir")
root=$(mktemp -d /tmp/pgkeep-rootfs.XXXXXX)
chmod 755 "$root"
trap 'rm -rf "$root"' EXIT
# Debian's merged /usr layout.
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/usr/sbin"
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$root/$d"; done

progs=(/bin/sh /bin/dash /usr/bin/setpriv /usr/bin/id /usr/bin/mkdir /usr/bin/chown /usr/bin/chmod
  /usr/bin/cp /usr/bin/rm /usr/bin/cat /usr/bin/ls /usr/bin/mktemp /usr/bin/sleep /usr/bin/env
  /usr/bin/test /usr/bin/sed /usr/bin/cmp /usr/bin/sync /usr/bin/mv /usr/bin/tar /usr/bin/gzip)
for p in postgres initdb pg_ctl pg_isready psql pg_dump pg_dumpall pg_restore pg_controldata pg_basebackup pg_verifybackup pg_waldump; do
  progs+=("$pgbin/$p")
done

copy() { mkdir -p "$root$(dirname "$1")"; cp -L "$1" "$root$1"; }
# libs FILE: the shared libraries FILE loads.
libs() { ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true; }
for p in "${progs[@]}"; do
  copy "$p"
  libs "$p" | while read -r lib; do
    [ -e "$root$lib" ] || copy "$lib"
  done
done
# The dynamic loader under both of its names.
copy /lib64/ld-linux-x86-64.so.2
# Server-side modules (plpgsql, ...), their libraries, and the server's share files.
mkdir -p "$root$pgdir"
cp -a "$pgdir/lib" "$root$pgdir/"
for so in "$pgdir"/lib/*.so; do
  libs "$so" | while read -r lib; do
    [ -e "$root$lib" ] || copy "$lib"
  done
done
mkdir -p "$root/usr/share/postgresql"
cp -a "/usr/share/postgresql/$major" "$root/usr/share/postgresql/"
mkdir -p "$root/usr/share/zoneinfo"
cp -a /usr/share/zoneinfo/UTC /usr/share/zoneinfo/Etc "$root/usr/share/zoneinfo/" 2>/dev/null || true

mkdir -p "$root/etc" "$root/tmp" "$root/var/run/postgresql" "$root/var/lib/postgresql" "$root/usr/local/bin"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' > "$root/etc/group"
cp "$here/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"

tar -C "$root" -c . | docker import \
  --change "ENV PATH=$pgbin:/usr/local/bin:/usr/bin:/bin" \
  --change 'ENV PGDATA=/var/lib/postgresql/data' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
  --change 'CMD ["postgres"]' \
  --change 'EXPOSE 5432' \
  --change 'VOLUME /var/lib/postgresql/data' \
  - "$tag" >/dev/null
echo "built $tag"
