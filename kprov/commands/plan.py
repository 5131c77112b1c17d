"""``kprov plan``: Terraform's plan and the Kubespray playbook that would run, changing nothing."""

from __future__ import annotations

from kprov.commands.base import Command, renderable
from kprov.stages.plan import Plan

PLAN = Command("plan", lambda session: [Plan()], requires=renderable)
