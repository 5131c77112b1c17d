"""Typed wrappers of the external tools kprov drives: Terraform, ansible-runner, Kubespray and ssh."""
