#!/usr/bin/env bash
# Builds the image the docker-provider tests boot, from Debian packages (debootstrap from the
# package sources this machine already uses), and prints its tag. Nothing is pulled from a
# registry. The tag is a hash of this recipe and Vagrant's insecure public key, so the image is
# built once per machine and rebuilt when the recipe changes.
#
# Needs: docker (a running daemon), debootstrap, and the vagrant package (for its public key).
# python3 is in the image for the web server the domain tests start in a container.
set -euo pipefail
recipe="$(readlink -f "$0")"
key=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -n1 || true)
[ -n "$key" ] || { echo "image.sh: Vagrant's insecure public key not found: apt-get install -y vagrant" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "image.sh: needs debootstrap: apt-get install -y debootstrap" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "image.sh: no docker daemon answers: apt-get install -y docker.io and start dockerd" >&2; exit 1; }
tag="jeto-vagrant-debian:$(cat "$recipe" "$key" | sha256sum | cut -c1-16)"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "image.sh: building $tag from $suite at $mirror" >&2
debootstrap --variant=minbase --include=openssh-server,rsync,sudo,iproute2,python3 "$suite" "$root" "$mirror" >&2
chroot "$root" useradd --create-home --shell /bin/bash vagrant
install -d -m 700 "$root/home/vagrant/.ssh"
install -m 600 "$key" "$root/home/vagrant/.ssh/authorized_keys"
chroot "$root" chown -R vagrant:vagrant /home/vagrant/.ssh
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > "$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"
mkdir -p "$root/run/sshd"
chroot "$root" ssh-keygen -A >&2
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import -c 'CMD ["/usr/sbin/sshd", "-D", "-e"]' -c 'EXPOSE 22' - "$tag" >&2
echo "$tag"
