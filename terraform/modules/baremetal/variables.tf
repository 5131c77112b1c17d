variable "settings" {
  description = "Per machine (by node name): mac, ip, disk, os kind, install (replacement triggers), boot_files (digest), wait_for_installer (seconds, 0 for live), pxe {host, user, dhcp}, bmc {driver, address, user, password (references), verify_tls, system_id}."
  type        = any
}
