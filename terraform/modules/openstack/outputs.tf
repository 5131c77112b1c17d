output "nodes" {
  description = "Nodes made by this pool, keyed by name: {name, pool, roles, ip, access_ip, ssh_user, labels, instance_id}."
  value = { for name, n in var.nodes : name => {
    name        = openstack_compute_instance_v2.node[name].name # the node appears once its server exists
    pool        = var.pool
    roles       = n.roles
    ip          = n.ip
    access_ip   = var.settings.floating_ip_pool == null ? n.access_ip : openstack_networking_floatingip_v2.fip[name].address
    ssh_user    = n.ssh_user
    labels      = n.labels
    instance_id = openstack_compute_instance_v2.node[name].id
  } }
}
