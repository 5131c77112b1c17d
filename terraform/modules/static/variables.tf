variable "settings" {
  description = "Target-specific pool settings (none for static)."
  type        = any
  default     = {}
}
