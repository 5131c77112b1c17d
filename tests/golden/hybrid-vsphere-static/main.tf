# Rendered by kprov 0.1.0 for site data in kprov.auto.tfvars.json. Do not edit: `kprov render`
# rewrites this file. Templates make structure only; every user value comes in through variables.

terraform {
  required_version = ">= 1.5"
  required_providers {
    vsphere = {
      source  = "hashicorp/vsphere"
      version = "2.0.2"
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

variable "vc_user" {
  description = "Credential; kprov passes it as TF_VAR_vc_user, never in a file."
  type        = string
  sensitive   = true
}

variable "vc_password" {
  description = "Credential; kprov passes it as TF_VAR_vc_password, never in a file."
  type        = string
  sensitive   = true
}

provider "vsphere" {
  alias                = "vc"
  vsphere_server       = var.provider_settings["vc"].server
  user                 = var.vc_user
  password             = var.vc_password
  allow_unverified_ssl = var.provider_settings["vc"].insecure
}

module "vc" {
  source   = "./modules/vsphere"
  for_each = var.pools["vc"]
  providers = {
    vsphere = vsphere.vc
  }

  pool     = each.key
  nodes    = each.value.nodes
  site     = var.site
  settings = each.value.settings
}

module "racks" {
  source   = "./modules/static"
  for_each = var.pools["racks"]

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
  value       = merge(concat([for p in module.vc : p.nodes], [for p in module.racks : p.nodes])...)
}
