variable "settings" {
  description = "Where and how to clone the pool's VMs."
  type = object({
    placement     = map(string)
    template_id   = number
    template_node = string
    datastore     = string
    bridge        = string
    vlan          = optional(number)
    cpus          = number
    memory_mib    = number
    disk_gib      = number
  })
}
