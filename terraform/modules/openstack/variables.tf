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
