"""A stage, and the session every stage of one command runs in.

A stage has a name, the inputs it fingerprints, and ``run(session)`` returning a typed result. The runner
(:mod:`kprov.engine.runner`) skips a stage whose fingerprint matches its last success. A stage never imports a
command, and knows the site only through the :class:`Session`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kprov.engine.state import StageState
from kprov.engine.workdir import Workdir
from kprov.errors import NotBuilt, UsageError
from kprov.events import Events

if TYPE_CHECKING:
    from kprov.engine.runs import Run
    from kprov.nodes import Node
    from kprov.site.load import LoadedSite
    from kprov.site.model import Site
    from kprov.tools.kubespray import Kubespray
    from kprov.tools.terraform import Terraform


@dataclass
class Session:
    """One command on one site: the validated site, its workdir, the event stream, options, and what earlier
    stages produced (``nodes``). Tools are made here, on demand, so a stage that needs none loads none."""

    loaded: LoadedSite
    workdir: Workdir
    events: Events
    command: str
    force: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    run: Run | None = None
    nodes: list[Node] = field(default_factory=list)
    _kubespray: Kubespray | None = field(default=None, init=False, repr=False)
    _state: StageState | None = field(default=None, init=False, repr=False)

    @property
    def site(self) -> Site:
        return self.loaded.site

    @property
    def state(self) -> StageState:
        if self._state is None:
            self._state = StageState(self.workdir.state_file)
        return self._state

    @property
    def run_dir(self) -> Path:
        """This run's folder (tools leave their artifacts there); only commands that record runs have one."""
        if self.run is None:
            raise RuntimeError(f"command {self.command} records no run: its stages cannot leave artifacts")
        return self.run.dir

    def spec_order(self) -> list[str]:
        return [n.name for n in self.loaded.nodes]

    def known_nodes(self) -> list[Node]:
        """The nodes Terraform made, as the last infra stage recorded them."""
        from kprov import nodes as nodes_mod  # noqa: PLC0415

        saved = nodes_mod.load(self.workdir.nodes_file)
        if not saved:
            raise NotBuilt(f"site {self.loaded.name} has no nodes yet: run `kprov up` first")
        return nodes_mod.sort_nodes(saved, self.spec_order())

    def targets_used(self) -> list[Any]:
        """The targets of the site's provider blocks, each once, in registry order."""
        from kprov.targets import registry  # noqa: PLC0415

        used = {p.type for p in self.site.providers.values()}
        return [t for name, t in registry().items() if name in used]

    def private_key(self) -> Path:
        from kprov.site.load import keygen_hint  # noqa: PLC0415

        key = self.loaded.private_key
        if not key.is_file():
            raise UsageError(f"ssh.private_key {key} does not exist ({keygen_hint(key)})")
        return key

    def ssh_config(self, nodes: Sequence[Node]) -> Path:
        from kprov.tools import ssh  # noqa: PLC0415

        return ssh.write_config(self.workdir, nodes, self.private_key(), self.site.ssh.port)

    def kubespray(self) -> Kubespray:
        """The site's Kubespray, ready to run; its supported versions checked against the site's."""
        if self._kubespray is None:
            from kprov.site.load import check_kubernetes_version  # noqa: PLC0415
            from kprov.tools import kubespray  # noqa: PLC0415

            self._kubespray = kubespray.resolve(self.site.kubernetes.kubespray, self.loaded.base_dir, self.events)
            check_kubernetes_version(self.loaded, self._kubespray.root)
        return self._kubespray

    def terraform(self) -> Terraform:
        """Terraform on the workdir's root module, with backend settings, credentials and what targets add in its
        environment (never in argv or a file)."""
        from kprov import render  # noqa: PLC0415
        from kprov.tools.terraform import Terraform  # noqa: PLC0415

        env = {**self.site.state.environment(self.loaded.base_dir), **render.credential_environment(self.loaded)}
        for target in self.targets_used():
            env.update(target.terraform_environment(self))
        return Terraform(self.workdir.terraform, env=env, events=self.events,
                         log_dir=self.run.dir if self.run is not None else None)

    def terraform_initialized(self) -> Terraform:
        """:meth:`terraform` after checking its version and running ``terraform init`` on the rendered root."""
        tf = self.terraform()
        tf.check_version()
        tf.init(backend_config=self.site.state.backend_config(self.loaded.name))
        return tf


class Stage(ABC):
    """One step of a command. Subclasses set ``name`` and implement :meth:`run`; the rest are optional hooks."""

    name: ClassVar[str]

    def describe(self, session: Session) -> str:
        """One line for the ``stage_start`` event."""
        return ""

    def skip_reason(self, session: Session) -> str | None:
        """None: the stage applies. Otherwise it is skipped, with this message (an empty one: silently)."""
        return None

    def prepare(self, session: Session) -> None:
        """Work done before the fingerprint is taken, whether or not the stage then runs (render files)."""
        return

    def fingerprint(self, session: Session) -> str | None:
        """Digest of the stage's inputs; None: the stage always runs and records nothing."""
        return None

    def outputs(self, session: Session) -> list[Path]:
        """Files the stage leaves that later stages (or commands) read: if one is gone, the stage runs again,
        and the no-op fast path declines."""
        return []

    def still_done(self, session: Session) -> bool:
        """Whether what the stage produced last time is still there (checked before skipping it)."""
        return all(p.is_file() for p in self.outputs(session))

    def restore(self, session: Session) -> None:
        """When skipped: load what later stages need from what the last run left."""
        return

    @abstractmethod
    def run(self, session: Session) -> Any:
        """Do the work; return a typed result. Raise a :class:`~kprov.errors.KprovError` on failure."""

    def done_message(self, result: Any) -> str:
        """One line for the ``stage_done`` event."""
        return ""
