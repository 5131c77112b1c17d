# Instances on one LXD server: containers (with kprov's Kubernetes node profile) or virtual machines, each with
# its address pinned on a managed LXD network and the site's SSH key, so every address is known before start.

terraform {
  required_version = ">= 1.5"
  required_providers {
    lxd = {
      source = "terraform-lxd/lxd"
    }
  }
}

locals {
  container = var.settings.instance_type == "container"
}

# What a Kubernetes node needs inside a container: privileged and nested (kubelet and the container runtime
# manage cgroups and mounts), /dev/kmsg (kubelet reads it), the kernel modules it would load, loaded on the host.
resource "lxd_profile" "node" {
  count = local.container ? 1 : 0

  name = "kprov-${var.site.name}-${var.pool}"
  config = merge({
    "security.privileged" = "true"
    "security.nesting"    = "true"
    "raw.lxc"             = "lxc.apparmor.profile=unconfined\nlxc.cap.drop=\nlxc.cgroup.devices.allow=a\nlxc.mount.auto=proc:rw sys:rw"
  }, var.settings.kernel_modules == "" ? {} : { "linux.kernel_modules" = var.settings.kernel_modules })

  device {
    name       = "kmsg"
    type       = "unix-char"
    properties = { source = "/dev/kmsg", path = "/dev/kmsg" }
  }
}

resource "lxd_container" "node" {
  for_each = var.nodes

  name     = each.key
  image    = var.settings.image
  type     = var.settings.instance_type
  profiles = concat(var.settings.profiles, lxd_profile.node[*].name)
  limits = {
    cpu    = tostring(var.settings.cpus)
    memory = "${var.settings.memory_mib}MiB"
  }
  config = {
    "user.kprov.site" = var.site.name
    "user.user-data" = join("\n", ["#cloud-config", jsonencode({
      hostname = each.key
      users = [{
        name                = each.value.ssh_user
        sudo                = "ALL=(ALL) NOPASSWD:ALL"
        shell               = "/bin/bash"
        ssh_authorized_keys = [var.site.ssh.public_key]
      }]
    })])
    "user.network-config" = jsonencode({
      version = 2
      ethernets = {
        eth0 = {
          addresses   = ["${each.value.ip}/${var.site.network.prefix_length}"]
          routes      = var.site.network.gateway == null ? [] : [{ to = "default", via = var.site.network.gateway }]
          nameservers = { addresses = var.site.network.dns, search = var.site.network.domain == null ? [] : [var.site.network.domain] }
        }
      }
    })
  }

  device {
    name = "root"
    type = "disk"
    properties = {
      pool = var.settings.storage_pool
      path = "/"
      size = "${var.settings.disk_gib}GiB"
    }
  }

  # ipv4.address pins the address in the managed network's DHCP server too
  device {
    name = "eth0"
    type = "nic"
    properties = {
      network        = var.settings.network
      name           = "eth0"
      "ipv4.address" = each.value.ip
    }
  }

  # Images without cloud-init: the key and a static address for systemd-networkd, uploaded before the first
  # start (containers only: a VM takes files through its agent, once it runs).
  dynamic "file" {
    for_each = { for k, f in {
      key = {
        path    = each.value.ssh_user == "root" ? "/root/.ssh/authorized_keys" : "/home/${each.value.ssh_user}/.ssh/authorized_keys"
        content = "${var.site.ssh.public_key}\n"
        mode    = "0600"
      }
      network = {
        path = "/etc/systemd/network/10-kprov-eth0.network"
        content = join("\n", concat(
          ["[Match]", "Name=eth0", "", "[Network]", "Address=${each.value.ip}/${var.site.network.prefix_length}"],
          var.site.network.gateway == null ? [] : ["Gateway=${var.site.network.gateway}"],
          [for d in var.site.network.dns : "DNS=${d}"],
          var.site.network.domain == null ? [] : ["Domains=${var.site.network.domain}"],
        [""]))
        mode = "0644"
      }
    } : k => f if local.container }
    content {
      target_file        = file.value.path
      content            = file.value.content
      mode               = file.value.mode
      create_directories = true
    }
  }
}

# The snapshots kprov records for each node (`kprov snapshot create`); a name dropped from the record deletes
# the snapshot. Revert is not a Terraform operation: kprov asks LXD for it directly.
resource "lxd_snapshot" "node" {
  for_each = merge({}, [for name, node in var.nodes : { for s in node.snapshots : "${name}/${s}" => { node = name, name = s } }]...)

  container_name = lxd_container.node[each.value.node].name
  name           = each.value.name
  stateful       = false
}
