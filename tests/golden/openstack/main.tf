# Rendered by kprov 0.1.0 for site data in kprov.auto.tfvars.json. Do not edit: `kprov render`
# rewrites this file. Templates make structure only; every user value comes in through variables.

terraform {
  required_version = ">= 1.5"
  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "2.1.0"
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

variable "os_application_credential_id" {
  description = "Credential; kprov passes it as TF_VAR_os_application_credential_id, never in a file."
  type        = string
  sensitive   = true
}

variable "os_application_credential_secret" {
  description = "Credential; kprov passes it as TF_VAR_os_application_credential_secret, never in a file."
  type        = string
  sensitive   = true
}

provider "openstack" {
  alias                         = "os"
  auth_url                      = var.provider_settings["os"].auth_url
  region                        = var.provider_settings["os"].region
  application_credential_id     = var.os_application_credential_id
  application_credential_secret = var.os_application_credential_secret
}

module "os" {
  source   = "./modules/openstack"
  for_each = var.pools["os"]
  providers = {
    openstack = openstack.os
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
  value       = merge(concat([for p in module.os : p.nodes])...)
}
