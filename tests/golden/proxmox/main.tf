# Rendered by kprov 0.1.0 for site data in kprov.auto.tfvars.json. Do not edit: `kprov render`
# rewrites this file. Templates make structure only; every user value comes in through variables.

terraform {
  required_version = ">= 1.5"
  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "0.66.3"
    }
  }
}

variable "site" {
  description = "The site as every target module gets it (var.site): name, description, network, SSH user and key."
  type = object({
    name        = string
    description = string
    network = object({
      prefix_length = number
      gateway       = optional(string)
      dns           = list(string)
      domain        = optional(string)
    })
    ssh = object({
      user       = string
      public_key = string
    })
  })
}

variable "pools" {
  description = "Per provider, per pool: the pool's nodes and target settings."
  type        = any
}

variable "provider_settings" {
  description = "Non-secret settings of each provider block."
  type        = any
}

variable "pve_api_token" {
  description = "Credential; kprov passes it as TF_VAR_pve_api_token, never in a file."
  type        = string
  sensitive   = true
}

provider "proxmox" {
  alias     = "pve"
  endpoint  = var.provider_settings["pve"].endpoint
  api_token = var.pve_api_token
  insecure  = var.provider_settings["pve"].insecure
}

module "pve" {
  source   = "./modules/proxmox"
  for_each = var.pools["pve"]
  providers = {
    proxmox = proxmox.pve
  }

  pool     = each.key
  nodes    = each.value.nodes
  site     = var.site
  settings = each.value.settings
}

output "site" {
  value = { name = var.site.name, description = var.site.description }
}

output "nodes" {
  description = "Every node of the site, keyed by name, in the shape all target modules share."
  value       = merge(concat([for p in module.pve : p.nodes])...)
}
