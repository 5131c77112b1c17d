# The contract every kprov target module shares: same variables, same `nodes` output.

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

variable "settings" {
  description = "Image, storage, network and size of the pool's VMs on this host."
  type = object({
    site           = string
    image          = string
    storage_pool   = string
    bridge         = optional(string)
    network        = optional(string)
    cpus           = number
    memory_mib     = number
    disk_gib       = number
    prefix_length  = number
    gateway        = optional(string)
    dns            = list(string)
    domain         = optional(string)
    ssh_public_key = string
  })
}
