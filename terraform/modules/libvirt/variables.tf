variable "settings" {
  description = "Image, storage, network and size of the pool's VMs on this host."
  type = object({
    image        = string
    storage_pool = string
    bridge       = optional(string)
    network      = optional(string)
    cpus         = number
    memory_mib   = number
    disk_gib     = number
  })
}
