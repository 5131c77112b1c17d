output "nodes" {
  description = "Nodes made by this pool, keyed by name: {name, pool, roles, ip, access_ip, ssh_user, labels, instance_id}."
  value       = { for name, n in terraform_data.node : name => merge(n.output, { instance_id = n.id }) }
}
