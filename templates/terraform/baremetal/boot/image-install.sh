#!/bin/bash
# kprov image install (run by cloud-init in the installer environment, arguments only, never interpolated):
#   image-install IMAGE_URL DISK SEED_URL
# Writes the (optionally compressed) raw disk image to DISK, points the installed system's cloud-init at its
# NoCloud seed, then powers off: kprov sees that through the BMC, disarms the installer on the PXE server (the
# machine's network boot then hands on to its disk) and powers the machine on.
set -euo pipefail
image=$1 disk=$2 seed=$3
case "$image" in
  *.gz) decompress=(gzip -dc) ;;
  *.xz) decompress=(xz -dc) ;;
  *.zst) decompress=(zstd -dc) ;;
  *) decompress=(cat) ;;
esac
echo "kprov: writing $image to $disk"
curl -fsSL --retry 5 "$image" | "${decompress[@]}" | dd of="$disk" bs=4M conv=fsync status=none
partprobe "$disk" 2>/dev/null || blockdev --rereadpt "$disk"
udevadm settle
root=$(lsblk -lnpbo NAME,FSTYPE,SIZE "$disk" | awk '$2 ~ /^(ext4|xfs|btrfs)$/ {print $3, $1}' | sort -n | tail -n1 | cut -d" " -f2)
if [ -z "$root" ]; then
  echo "kprov: no ext4/xfs/btrfs partition on $disk after writing the image" >&2
  exit 1
fi
mnt=$(mktemp -d)
mount "$root" "$mnt"
mkdir -p "$mnt/etc/cloud/cloud.cfg.d"
printf 'datasource_list: [NoCloud, None]\ndatasource:\n  NoCloud:\n    seedfrom: "%s"\n' "$seed" \
  > "$mnt/etc/cloud/cloud.cfg.d/99-kprov-seed.cfg"
umount "$mnt"
sync
echo "kprov: image written; powering off (kprov powers it on into the installed system)"
systemctl poweroff
