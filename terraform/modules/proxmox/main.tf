# VMs cloned from a template VM in Proxmox VE, placed on the nodes kprov chose, with cloud-init for the user,
# SSH key and static address.

terraform {
  required_version = ">= 1.5"
  required_providers {
    proxmox = {
      source = "bpg/proxmox"
    }
  }
}

resource "proxmox_virtual_environment_vm" "node" {
  for_each = var.nodes

  name        = each.key
  node_name   = var.settings.placement[each.key]
  description = var.site.description
  tags        = ["kprov", var.site.name, var.pool]
  started     = true
  on_boot     = true

  clone {
    vm_id     = var.settings.template_id
    node_name = var.settings.template_node
    full      = true
  }

  cpu {
    cores = var.settings.cpus
    type  = "host"
  }

  memory {
    dedicated = var.settings.memory_mib
  }

  disk {
    datastore_id = var.settings.datastore
    interface    = "scsi0"
    size         = var.settings.disk_gib
  }

  network_device {
    bridge  = var.settings.bridge
    vlan_id = var.settings.vlan
  }

  agent {
    enabled = false # kprov waits for SSH on the static address; no guest agent needed
  }

  initialization {
    datastore_id = var.settings.datastore

    ip_config {
      ipv4 {
        address = "${each.value.ip}/${var.site.network.prefix_length}"
        gateway = var.site.network.gateway
      }
    }

    dns {
      servers = var.site.network.dns
      domain  = var.site.network.domain
    }

    user_account {
      username = each.value.ssh_user
      keys     = [var.site.ssh.public_key]
    }
  }

  lifecycle {
    ignore_changes = [clone]
  }
}
