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
  description = "Image, flavor, network and placement of the pool's servers."
  type = object({
    site             = string
    network          = string
    subnet           = string
    image            = string
    flavor           = string
    anti_affinity    = bool
    floating_ip_pool = optional(string)
    security_groups  = list(string)
    ssh_public_key   = string
    disk_gib         = number
    description      = string
  })
}
