variable "settings" {
  description = "Image, instance type, profiles, storage, network and size of the pool's instances."
  type = object({
    image          = string
    instance_type  = string
    profiles       = list(string)
    storage_pool   = string
    network        = string
    kernel_modules = string
    cpus           = number
    memory_mib     = number
    disk_gib       = number
  })
}
