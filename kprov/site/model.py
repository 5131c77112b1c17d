"""The site file's model (``apiVersion: kprov.io/v1alpha1``, ``kind: Site``), validated by pydantic v2.

Provider blocks are a union of every registered target's provider model (:mod:`kprov.targets`). Pools are
validated in a second pass by their provider's target class, because which pool keys are allowed depends on the
provider a pool names. :func:`kprov.site.load.load_site` runs both passes and the meaning checks.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from kprov.site.secrets import SecretRef
from kprov.site.types import DnsLabel, Identifier, exactly_one
from kprov.targets import provider_config_type

if TYPE_CHECKING:
    ProviderConfig = Any
else:
    ProviderConfig = provider_config_type()

API_VERSION = "kprov.io/v1alpha1"

KubernetesVersion = Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]

# Keys kprov writes to Kubespray itself; setting them in kubernetes.vars would silently fight the site file.
MANAGED_VARS = {
    "kube_version": "kubernetes.version",
    "kube_network_plugin": "kubernetes.network_plugin",
    "kube_pods_subnet": "kubernetes.pods_cidr",
    "kube_service_addresses": "kubernetes.services_cidr",
    "kube_network_node_prefix": "kubernetes.node_prefix",
    "kubeconfig_localhost": None,
    "artifacts_dir": None,
    "ansible_user": "ssh.user",
    "ansible_ssh_private_key_file": "ssh.private_key",
    "drain_timeout": "kubernetes.drain.timeout",
    "drain_grace_period": "kubernetes.drain.grace_period",
    "serial": "kubernetes.upgrade_batch",
}


class Strict(BaseModel):
    """Unknown keys are errors everywhere: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Metadata(Strict):
    name: DnsLabel
    description: Annotated[str, StringConstraints(max_length=1024)] = ""
    """Free text (owner, ticket, purpose). Reaches Terraform (VM notes on targets that have them) and Ansible."""


class KubesprayRef(Strict):
    version: Annotated[str, StringConstraints(pattern=r"^v\d+\.\d+\.\d+$")] | None = None
    path: str | None = None
    repo: str = "https://github.com/kubernetes-sigs/kubespray.git"
    venv: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        return exactly_one(self, "version", "path", "give exactly one of 'version' (a tag such as v2.31.0) or 'path'")


class Drain(Strict):
    """How nodes are drained before they leave the cluster or are upgraded: kprov's own drain (the eviction
    API, which waits on PodDisruptionBudgets) and Kubespray's (``drain_timeout``, ``drain_grace_period``)."""

    timeout: Annotated[int, Field(ge=10, le=86400)] = 360
    """Seconds a node's pods may take to leave it; a drain still blocked then fails, naming the budget."""
    grace_period: Annotated[int, Field(ge=0, le=3600)] = 300
    """Seconds each evicted pod gets to stop (its termination grace period)."""


UpgradeBatch = Annotated[int, Field(ge=1, le=10000)] | Annotated[str, StringConstraints(pattern=r"^([1-9]\d?|100)%$")]


class Kubernetes(Strict):
    version: KubernetesVersion
    network_plugin: Literal["calico", "flannel", "cilium", "kube-ovn", "kube-router", "macvlan",
                            "custom_cni", "cni", "none"] = "calico"
    container_manager: Literal["containerd", "crio", "docker"] = "containerd"
    pods_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.233.64.0/18")
    services_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.233.0.0/18")
    node_prefix: Annotated[int, Field(ge=16, le=28)] = 24
    kubespray: KubesprayRef
    drain: Drain = Field(default_factory=Drain)
    upgrade_batch: UpgradeBatch = "20%"
    """How many workers ``kprov upgrade`` upgrades at once (a count or a percentage; Kubespray's ``serial``).
    Control-plane nodes are always upgraded one at a time."""
    vars: dict[str, Any] = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        if isinstance(value, float | int):
            raise ValueError(f'must be a quoted string such as "1.35.4", not the number {value}')
        if isinstance(value, str) and value.startswith("v"):
            raise ValueError(f'write the version without a leading "v": "{value[1:]}"')
        return value

    @field_validator("vars")
    @classmethod
    def _not_managed(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key in MANAGED_VARS:
                where = MANAGED_VARS[key]
                hint = f"set {where} instead" if where else "kprov manages it"
                raise ValueError(f"'{key}' cannot be set here: {hint}")
        return value


class Ssh(Strict):
    user: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "root"
    private_key: str
    public_key: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    connect_timeout: Annotated[int, Field(ge=1, le=3600)] = 300
    """How long ``up`` waits for every node to answer SSH, in seconds."""


class Network(Strict):
    cidr: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address | None = None
    dns: list[ipaddress.IPv4Address] = Field(default_factory=list)
    domain: str | None = None


class StateBackend(Strict):
    """Where Terraform keeps state, and how it is locked against a second writer.

    ``local``: in the workdir (one machine; kprov's own lock covers it). ``http``: GitLab's managed state or any
    Terraform http backend (locking when ``lock_address`` is given). ``s3``: an S3 bucket, AWS or any S3-compatible
    server (``endpoint``, ``path_style``), locked by an S3 lock file (``lock: lockfile``, needs conditional writes)
    or a DynamoDB table (``lock: dynamodb``). ``pg``: a PostgreSQL database (``address``: a connection URL without
    the password), locked by advisory locks. Secrets reach Terraform as environment variables only; the other
    settings as ``-backend-config`` arguments of ``terraform init``."""

    backend: Literal["local", "http", "s3", "pg"] = "local"
    address: str | None = None
    """http: the state URL. pg: ``postgres://USER@HOST:PORT/DB?sslmode=...`` (the password goes in ``password``)."""
    lock_address: str | None = None
    unlock_address: str | None = None
    username: str | None = None
    password: SecretRef | None = None
    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = None
    key: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    """s3: the state object's key (default ``kprov/<site>/terraform.tfstate``)."""
    region: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$")] = "us-east-1"
    endpoint: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    """s3: an S3-compatible server's URL (MinIO, Ceph, ...); AWS itself when not given."""
    path_style: bool = False
    access_key: SecretRef | None = None
    secret_key: SecretRef | None = None
    lock: Literal["lockfile", "dynamodb"] = "lockfile"
    dynamodb_table: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,255}$")] | None = None
    schema_name: Identifier | None = None
    """pg: the database schema holding the state (default ``kprov_<site>``)."""

    FIELDS: ClassVar[dict[str, set[str]]] = {
        "local": set(),
        "http": {"address", "lock_address", "unlock_address", "username", "password"},
        "s3": {"bucket", "key", "region", "endpoint", "path_style", "access_key", "secret_key", "lock",
               "dynamodb_table"},
        "pg": {"address", "username", "password", "schema_name"},
    }

    @model_validator(mode="after")
    def _fields_of_the_backend(self) -> Self:
        wrong = sorted(self.model_fields_set - self.FIELDS[self.backend] - {"backend"})
        if wrong:
            owners = {f: sorted(b for b, fs in self.FIELDS.items() if f in fs) for f in wrong}
            raise ValueError("; ".join(f"'{f}' applies to backend: {' or '.join(owners[f])} only" for f in wrong))
        if self.backend in ("http", "pg") and not self.address:
            raise ValueError(f"the {self.backend} backend needs 'address'")
        if self.backend == "s3" and not self.bucket:
            raise ValueError("the s3 backend needs 'bucket'")
        if self.backend == "s3" and (self.lock == "dynamodb") != (self.dynamodb_table is not None):
            raise ValueError("'lock: dynamodb' and 'dynamodb_table' go together")
        if self.backend == "s3" and (self.access_key is None) != (self.secret_key is None):
            raise ValueError("give both 'access_key' and 'secret_key', or neither (then the AWS environment's)")
        return self

    def environment(self, base: Path) -> dict[str, str]:
        """Backend settings as Terraform reads them from the environment: every secret, and whatever else it
        reads there."""
        env: dict[str, str] = {}
        if self.backend == "http":
            env["TF_HTTP_ADDRESS"] = self.address or ""
            if self.lock_address:
                env["TF_HTTP_LOCK_ADDRESS"] = self.lock_address
                env["TF_HTTP_LOCK_METHOD"] = "POST"
            if self.unlock_address:
                env["TF_HTTP_UNLOCK_ADDRESS"] = self.unlock_address
                env["TF_HTTP_UNLOCK_METHOD"] = "DELETE"
            if self.username:
                env["TF_HTTP_USERNAME"] = self.username
            if self.password is not None:
                env["TF_HTTP_PASSWORD"] = self.password.resolve(base)
        elif self.backend == "s3":
            if self.access_key is not None and self.secret_key is not None:
                env["AWS_ACCESS_KEY_ID"] = self.access_key.resolve(base)
                env["AWS_SECRET_ACCESS_KEY"] = self.secret_key.resolve(base)
            if self.endpoint:
                env["AWS_ENDPOINT_URL_S3"] = self.endpoint
                env["AWS_ENDPOINT_URL_DYNAMODB"] = self.endpoint
        elif self.backend == "pg":
            env["PG_CONN_STR"] = self.address or ""
            if self.username:
                env["PGUSER"] = self.username
            if self.password is not None:
                env["PGPASSWORD"] = self.password.resolve(base)
        return env

    def backend_config(self, site: str) -> dict[str, str]:
        """The settings ``terraform init`` gets as ``-backend-config=KEY=VALUE`` (no secret among them)."""
        if self.backend == "s3":
            config = {"bucket": self.bucket or "", "key": self.key or f"kprov/{site}/terraform.tfstate",
                      "region": self.region, "encrypt": "true"}
            if self.lock == "dynamodb":
                config["dynamodb_table"] = self.dynamodb_table or ""
            else:
                config["use_lockfile"] = "true"
            if self.path_style:
                config["use_path_style"] = "true"
            if self.endpoint:  # not AWS: no STS, no EC2 metadata, no AWS region list
                config.update(skip_credentials_validation="true", skip_requesting_account_id="true",
                              skip_metadata_api_check="true", skip_region_validation="true")
            return config
        if self.backend == "pg":
            return {"schema_name": self.schema_name or f"kprov_{site.replace('-', '_')}"}
        return {}


class Site(Strict):
    api_version: Literal["kprov.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Site"]
    metadata: Metadata
    kubernetes: Kubernetes
    ssh: Ssh
    network: Network
    providers: Annotated[dict[Identifier, ProviderConfig], Field(min_length=1)]
    pools: Annotated[dict[DnsLabel, dict[str, Any]], Field(min_length=1)]
    state: StateBackend = StateBackend()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
