# VMs on one libvirt host: a base volume from the image, a copy-on-write disk per node, and a cloud-init ISO
# with a static network config, so every address is known before boot (no DHCP lease to hunt for).

terraform {
  required_version = ">= 1.5"
  required_providers {
    libvirt = {
      source = "dmacvicar/libvirt"
    }
  }
}

resource "libvirt_volume" "base" {
  name   = "kprov-${var.site.name}-${var.pool}-base"
  pool   = var.settings.storage_pool
  source = var.settings.image
  format = "qcow2"
}

resource "libvirt_volume" "disk" {
  for_each = var.nodes

  name           = "${each.key}.qcow2"
  pool           = var.settings.storage_pool
  base_volume_id = libvirt_volume.base.id
  size           = var.settings.disk_gib * 1024 * 1024 * 1024
  format         = "qcow2"
}

resource "libvirt_cloudinit_disk" "init" {
  for_each = var.nodes

  name      = "${each.key}-cloudinit.iso"
  pool      = var.settings.storage_pool
  meta_data = jsonencode({ "instance-id" = each.key, "local-hostname" = each.key })
  user_data = join("\n", ["#cloud-config", jsonencode({
    hostname = each.key
    users = [{
      name                = each.value.ssh_user
      sudo                = "ALL=(ALL) NOPASSWD:ALL"
      shell               = "/bin/bash"
      ssh_authorized_keys = [var.site.ssh.public_key]
    }]
  })])
  network_config = jsonencode({
    version = 2
    ethernets = {
      nic0 = {
        match       = { name = "e*" }
        addresses   = ["${each.value.ip}/${var.site.network.prefix_length}"]
        routes      = var.site.network.gateway == null ? [] : [{ to = "default", via = var.site.network.gateway }]
        nameservers = { addresses = var.site.network.dns, search = var.site.network.domain == null ? [] : [var.site.network.domain] }
      }
    }
  })
}

resource "libvirt_domain" "node" {
  for_each = var.nodes

  name       = each.key
  vcpu       = var.settings.cpus
  memory     = var.settings.memory_mib
  autostart  = true
  qemu_agent = false # kprov waits for SSH on the static address
  cloudinit  = libvirt_cloudinit_disk.init[each.key].id

  cpu {
    mode = "host-passthrough"
  }

  disk {
    volume_id = libvirt_volume.disk[each.key].id
  }

  network_interface {
    bridge       = var.settings.bridge
    network_name = var.settings.network
  }

  console {
    type        = "pty"
    target_type = "serial"
    target_port = "0"
  }
}
