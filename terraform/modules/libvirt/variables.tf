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
