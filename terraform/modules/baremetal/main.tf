# Bare metal: nothing to create, but two things to do per machine, each a resource so that a plan says what
# will happen to real hardware.
#   boot_files  publishes the machine's iPXE script and install seed on the PXE server (replaced when they
#               change: a new SSH key or address is re-published without reinstalling anything);
#   machine     arms the installer, sets PXE-once through the BMC and power-cycles; for an OS installed to disk
#               it waits until the installer powers the machine off, disarms the installer (the machine's
#               network boot then hands on to its disk) and powers it on. Creating it installs the machine; it is
#               replaced (reinstalled) only when the MAC, the OS or the disk changes. Destroying it powers the
#               machine off.
# The work is done by `python -m kprov.targets.baremetal.machine` (KPROV_PYTHON, set by kprov). BMC credentials are references
# ({env: NAME} / {file: PATH}) resolved in that process: no secret is ever in this state or in argv.

terraform {
  required_version = ">= 1.5"
}

locals {
  machines = { for name, n in var.nodes : name => var.settings.machines[name] }
}

resource "terraform_data" "boot_files" {
  for_each = local.machines

  triggers_replace = [each.value.boot_files]
  input = {
    name = each.key
    mac  = each.value.mac
    ip   = each.value.ip
    pxe  = each.value.pxe
  }

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = "exec \"$${KPROV_PYTHON:?is set by kprov}\" -m kprov.targets.baremetal.machine publish"
    working_dir = path.root
    environment = { KPROV_MACHINE = jsonencode(self.input) }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "-c"]
    command     = "exec \"$${KPROV_PYTHON:?is set by kprov}\" -m kprov.targets.baremetal.machine unpublish"
    working_dir = path.root
    environment = { KPROV_MACHINE = jsonencode(self.output) }
  }
}

resource "terraform_data" "machine" {
  for_each   = local.machines
  depends_on = [terraform_data.boot_files]

  triggers_replace = each.value.install
  input = {
    name      = each.key
    pool      = var.pool
    roles     = var.nodes[each.key].roles
    ip        = var.nodes[each.key].ip
    access_ip = var.nodes[each.key].access_ip
    ssh_user  = var.nodes[each.key].ssh_user
    labels    = var.nodes[each.key].labels
    mac       = each.value.mac
    bmc       = each.value.bmc
    pxe       = each.value.pxe
    # seconds to wait for the installer to power the machine off (0: a live system, nothing to wait for)
    wait_for_installer = each.value.wait_for_installer
  }

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = "exec \"$${KPROV_PYTHON:?is set by kprov}\" -m kprov.targets.baremetal.machine install"
    working_dir = path.root
    environment = { KPROV_MACHINE = jsonencode(self.input) }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "-c"]
    command     = "exec \"$${KPROV_PYTHON:?is set by kprov}\" -m kprov.targets.baremetal.machine power-off"
    working_dir = path.root
    environment = { KPROV_MACHINE = jsonencode(self.output) }
  }
}
