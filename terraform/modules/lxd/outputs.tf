output "nodes" {
  description = "Nodes made by this pool, keyed by name: {name, pool, roles, ip, access_ip, ssh_user, labels, instance_id}."
  value = { for name, n in var.nodes : name => {
    name      = lxd_container.node[name].name # the node appears once its instance exists
    pool      = var.pool
    roles     = n.roles
    ip        = n.ip
    access_ip = n.access_ip
    ssh_user  = n.ssh_user
    labels    = n.labels
    # an instance made again gets a new MAC address (LXD's volatile hwaddr), so later stages see a new node
    instance_id = "${lxd_container.node[name].name}/${lxd_container.node[name].mac_address}"
  } }
}
