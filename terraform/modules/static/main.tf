# Machines that already exist: nothing to create, but each is recorded in state so that adding, changing or
# removing one shows up in a plan like any other infrastructure change.

terraform {
  required_version = ">= 1.5"
}

resource "terraform_data" "node" {
  for_each = var.nodes

  input = {
    name      = each.key
    pool      = var.pool
    roles     = each.value.roles
    ip        = each.value.ip
    access_ip = each.value.access_ip
    ssh_user  = each.value.ssh_user
    labels    = each.value.labels
  }

  # A different address is a different machine.
  triggers_replace = [each.value.ip]
}
