variable "settings" {
  description = "Image, flavor, network and placement of the pool's servers."
  type = object({
    network          = string
    subnet           = string
    image            = string
    flavor           = string
    anti_affinity    = bool
    floating_ip_pool = optional(string)
    security_groups  = list(string)
    disk_gib         = number
  })
}
