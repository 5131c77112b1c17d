output "nodes" {
  description = "Nodes made by this pool, keyed by name: {name, pool, roles, ip, access_ip, ssh_user, labels, instance_id}."
  value = { for name, n in var.nodes : name => {
    name        = vsphere_virtual_machine.node[name].name # the node appears once its VM exists
    pool        = var.pool
    roles       = n.roles
    ip          = n.ip
    access_ip   = n.access_ip
    ssh_user    = n.ssh_user
    labels      = n.labels
    instance_id = vsphere_virtual_machine.node[name].id
  } }
}
