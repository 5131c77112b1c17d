# VMs cloned from a template in vSphere, one per node, with static addresses set either by guest customization
# or by cloud-init through guestinfo. An optional DRS anti-affinity rule keeps a pool's VMs on different hosts.

terraform {
  required_version = ">= 1.5"
  required_providers {
    vsphere = {
      source = "hashicorp/vsphere"
    }
  }
}

data "vsphere_datacenter" "dc" {
  name = var.settings.datacenter
}

data "vsphere_compute_cluster" "cluster" {
  name          = var.settings.cluster
  datacenter_id = data.vsphere_datacenter.dc.id
}

data "vsphere_resource_pool" "pool" {
  count         = var.settings.resource_pool == null ? 0 : 1
  name          = var.settings.resource_pool
  datacenter_id = data.vsphere_datacenter.dc.id
}

data "vsphere_datastore" "ds" {
  name          = var.settings.datastore
  datacenter_id = data.vsphere_datacenter.dc.id
}

data "vsphere_network" "net" {
  count         = length(var.settings.networks)
  name          = var.settings.networks[count.index]
  datacenter_id = data.vsphere_datacenter.dc.id
}

data "vsphere_virtual_machine" "template" {
  name          = var.settings.template
  datacenter_id = data.vsphere_datacenter.dc.id
}

locals {
  resource_pool_id = var.settings.resource_pool == null ? data.vsphere_compute_cluster.cluster.resource_pool_id : data.vsphere_resource_pool.pool[0].id
  cloud_init       = var.settings.customization == "cloud-init"
  metadata = { for name, n in var.nodes : name => {
    "local-hostname" = name
    "instance-id"    = name
    network = {
      version = 2
      ethernets = {
        nic0 = {
          match       = { name = "e*" }
          addresses   = ["${n.ip}/${var.site.network.prefix_length}"]
          routes      = var.site.network.gateway == null ? [] : [{ to = "default", via = var.site.network.gateway }]
          nameservers = { addresses = var.site.network.dns, search = var.site.network.domain == null ? [] : [var.site.network.domain] }
        }
      }
    }
  } }
  userdata = { for name, n in var.nodes : name => join("\n", ["#cloud-config", jsonencode({
    hostname = name
    users = [{
      name                = n.ssh_user
      sudo                = "ALL=(ALL) NOPASSWD:ALL"
      shell               = "/bin/bash"
      ssh_authorized_keys = [var.site.ssh.public_key]
    }]
  })]) }
}

resource "vsphere_virtual_machine" "node" {
  for_each = var.nodes

  name             = each.key
  resource_pool_id = local.resource_pool_id
  datastore_id     = data.vsphere_datastore.ds.id
  folder           = var.settings.folder
  annotation       = var.site.description
  num_cpus         = var.settings.cpus
  memory           = var.settings.memory_mib
  guest_id         = data.vsphere_virtual_machine.template.guest_id
  scsi_type        = data.vsphere_virtual_machine.template.scsi_type
  firmware         = data.vsphere_virtual_machine.template.firmware

  # kprov waits for SSH on the static address itself; do not depend on VMware Tools reporting an IP.
  wait_for_guest_net_timeout = 0
  wait_for_guest_ip_timeout  = 0

  dynamic "network_interface" {
    for_each = data.vsphere_network.net
    content {
      network_id   = network_interface.value.id
      adapter_type = data.vsphere_virtual_machine.template.network_interface_types[0]
    }
  }

  disk {
    label            = "disk0"
    size             = max(var.settings.disk_gib, data.vsphere_virtual_machine.template.disks[0].size)
    thin_provisioned = data.vsphere_virtual_machine.template.disks[0].thin_provisioned
  }

  clone {
    template_uuid = data.vsphere_virtual_machine.template.id

    dynamic "customize" {
      for_each = local.cloud_init ? [] : [each.value]
      content {
        linux_options {
          host_name = each.key
          domain    = coalesce(var.site.network.domain, "local")
        }
        network_interface {
          ipv4_address = each.value.ip
          ipv4_netmask = var.site.network.prefix_length
        }
        ipv4_gateway    = var.site.network.gateway
        dns_server_list = var.site.network.dns
      }
    }
  }

  extra_config = local.cloud_init ? {
    "guestinfo.metadata"          = base64encode(jsonencode(local.metadata[each.key]))
    "guestinfo.metadata.encoding" = "base64"
    "guestinfo.userdata"          = base64encode(local.userdata[each.key])
    "guestinfo.userdata.encoding" = "base64"
  } : {}

  lifecycle {
    # a re-cloned template or a drifting template id must not replace running nodes; kprov never sets the swap
    # placement, and a vCenter that reports none for it (the simulator) must not show as a change
    ignore_changes = [clone[0].template_uuid, swap_placement_policy]
  }
}

resource "vsphere_compute_cluster_vm_anti_affinity_rule" "spread" {
  count               = var.settings.anti_affinity && length(var.nodes) > 1 ? 1 : 0
  name                = "kprov-${var.site.name}-${var.pool}"
  compute_cluster_id  = data.vsphere_compute_cluster.cluster.id
  virtual_machine_ids = [for vm in vsphere_virtual_machine.node : vm.id]
}

# The snapshots kprov records for each node (`kprov snapshot create`, and before each step of `kprov upgrade`);
# a name dropped from the record deletes the snapshot. Disk only (no memory, no quiescing): a reverted node boots
# as after a power loss. Revert is not a Terraform operation: kprov asks vCenter for it directly.
resource "vsphere_virtual_machine_snapshot" "node" {
  for_each = merge({}, [for name, node in var.nodes : { for s in node.snapshots : "${name}/${s}" => { node = name, name = s } }]...)

  virtual_machine_uuid = vsphere_virtual_machine.node[each.value.node].id
  snapshot_name        = each.value.name
  description          = "kprov snapshot ${each.value.name} of ${each.value.node}"
  memory               = false
  quiesce              = false
  remove_children      = false
  consolidate          = true
}
