output "nodes" {
  description = "Nodes made by this pool, keyed by name: {name, pool, roles, ip, access_ip, ssh_user, labels, instance_id}."
  value = { for name, m in terraform_data.machine : name => {
    name      = m.output.name
    pool      = m.output.pool
    roles     = m.output.roles
    ip        = m.output.ip
    access_ip = m.output.access_ip
    ssh_user  = m.output.ssh_user
    labels    = m.output.labels
    # a new id means a reinstalled machine: every later stage runs again for it
    instance_id = m.id
  } }
}
