# Servers from an image and a flavor, each on a port with its fixed address, optionally in an anti-affinity
# server group and behind a floating IP.

terraform {
  required_version = ">= 1.5"
  required_providers {
    openstack = {
      source = "terraform-provider-openstack/openstack"
    }
  }
}

data "openstack_networking_network_v2" "net" {
  name = var.settings.network
}

data "openstack_networking_subnet_v2" "subnet" {
  name       = var.settings.subnet
  network_id = data.openstack_networking_network_v2.net.id
}

data "openstack_images_image_v2" "image" {
  name        = var.settings.image
  most_recent = true
}

resource "openstack_compute_keypair_v2" "key" {
  name       = "kprov-${var.site.name}-${var.pool}"
  public_key = var.site.ssh.public_key
}

resource "openstack_compute_servergroup_v2" "spread" {
  count    = var.settings.anti_affinity ? 1 : 0
  name     = "kprov-${var.site.name}-${var.pool}"
  policies = ["anti-affinity"]
}

resource "openstack_networking_port_v2" "port" {
  for_each = var.nodes

  name               = each.key
  network_id         = data.openstack_networking_network_v2.net.id
  security_group_ids = length(var.settings.security_groups) > 0 ? var.settings.security_groups : null

  fixed_ip {
    subnet_id  = data.openstack_networking_subnet_v2.subnet.id
    ip_address = each.value.ip
  }
}

resource "openstack_compute_instance_v2" "node" {
  for_each = var.nodes

  name        = each.key
  flavor_name = var.settings.flavor
  key_pair    = openstack_compute_keypair_v2.key.name
  metadata    = { "kprov-site" = var.site.name, "kprov-pool" = var.pool }
  user_data = join("\n", ["#cloud-config", jsonencode({
    hostname = each.key
    users = [{
      name                = each.value.ssh_user
      sudo                = "ALL=(ALL) NOPASSWD:ALL"
      shell               = "/bin/bash"
      ssh_authorized_keys = [var.site.ssh.public_key]
    }]
  })])

  block_device {
    uuid                  = data.openstack_images_image_v2.image.id
    source_type           = "image"
    destination_type      = "volume"
    volume_size           = var.settings.disk_gib
    boot_index            = 0
    delete_on_termination = true
  }

  network {
    port = openstack_networking_port_v2.port[each.key].id
  }

  dynamic "scheduler_hints" {
    for_each = openstack_compute_servergroup_v2.spread
    content {
      group = scheduler_hints.value.id
    }
  }

  lifecycle {
    ignore_changes = [user_data, block_device[0].uuid] # a newer image must not replace running nodes
  }
}

resource "openstack_networking_floatingip_v2" "fip" {
  for_each = var.settings.floating_ip_pool == null ? {} : var.nodes
  pool     = var.settings.floating_ip_pool
}

resource "openstack_networking_floatingip_associate_v2" "fip" {
  for_each    = openstack_networking_floatingip_v2.fip
  floating_ip = each.value.address
  port_id     = openstack_networking_port_v2.port[each.key].id
}
