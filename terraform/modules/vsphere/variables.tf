variable "settings" {
  description = "Where and how to clone the pool's VMs."
  type = object({
    datacenter    = string
    cluster       = string
    datastore     = string
    resource_pool = optional(string)
    folder        = optional(string)
    networks      = list(string)
    template      = string
    cpus          = number
    memory_mib    = number
    disk_gib      = number
    anti_affinity = bool
    customization = string
  })
}
