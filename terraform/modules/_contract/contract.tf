# The contract every kprov target module shares: these two variables (this file is linked into every module
# as contract.tf), a `settings` variable of the target's own, and a `nodes` output of one shape:
# {name, pool, roles, ip, access_ip, ssh_user, labels, instance_id} per node; instance_id is the id of what
# makes the node (VM, server, machine install), so a node made again is seen as new by the later stages.

variable "pool" {
  description = "Name of the pool this module instance makes."
  type        = string
}

variable "nodes" {
  description = "Nodes of the pool, keyed by node name."
  type = map(object({
    roles     = list(string)
    ip        = string
    access_ip = string
    ssh_user  = string
    labels    = map(string)
    mac       = optional(string)
  }))
}
