variable "settings" {
  description = "Where and how to clone the pool's VMs."
  type = object({
    site           = string
    placement      = map(string)
    template_id    = number
    template_node  = string
    datastore      = string
    bridge         = string
    vlan           = optional(number)
    cpus           = number
    memory_mib     = number
    disk_gib       = number
    prefix_length  = number
    gateway        = optional(string)
    dns            = list(string)
    domain         = optional(string)
    ssh_public_key = string
    description    = string
  })
}
