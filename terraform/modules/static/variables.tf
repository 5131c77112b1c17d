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
  description = "Target-specific pool settings (none for static)."
  type        = any
  default     = {}
}
