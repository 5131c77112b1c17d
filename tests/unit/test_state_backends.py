"""The state backends' settings: secrets only in the environment Terraform gets, the rest as -backend-config,
and every key refused on a backend it does not apply to."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kprov.site.model import StateBackend


def test_s3_secrets_go_to_the_environment_and_settings_to_backend_config(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("K", "AKIA1")
    monkeypatch.setenv("S", "s3cr3t")
    b = StateBackend.model_validate({"backend": "s3", "bucket": "state", "endpoint": "http://127.0.0.1:9000",
                                     "path_style": True, "access_key": {"env": "K"}, "secret_key": {"env": "S"}})
    assert b.environment(tmp_path) == {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                                       "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
                                       "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9000"}
    config = b.backend_config("dc1")
    assert config["key"] == "kprov/dc1/terraform.tfstate" and config["use_lockfile"] == "true"
    assert config["use_path_style"] == "true" and config["skip_credentials_validation"] == "true"
    assert "s3cr3t" not in str(config) and "AKIA1" not in str(config)
    aws = StateBackend.model_validate({"backend": "s3", "bucket": "state", "lock": "dynamodb",
                                       "dynamodb_table": "locks"}).backend_config("dc1")
    assert aws["dynamodb_table"] == "locks" and "use_lockfile" not in aws and "skip_region_validation" not in aws


def test_pg_gets_its_url_and_password_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("P", "pgpw")
    b = StateBackend.model_validate({"backend": "pg", "address": "postgres://kprov@db:5432/state",
                                     "password": {"env": "P"}})
    assert b.environment(tmp_path) == {"PG_CONN_STR": "postgres://kprov@db:5432/state", "PGPASSWORD": "pgpw"}
    assert b.backend_config("dc-1") == {"schema_name": "kprov_dc_1"}


@pytest.mark.parametrize(("data", "message"), [
    ({"backend": "pg", "address": "postgres://db/x", "bucket": "bkt"}, "'bucket' applies to backend: s3 only"),
    ({"backend": "local", "address": "http://x"}, "'address' applies to backend: http or pg only"),
    ({"backend": "s3"}, "the s3 backend needs 'bucket'"),
    ({"backend": "s3", "bucket": "bkt", "lock": "dynamodb"}, "'lock: dynamodb' and 'dynamodb_table' go together"),
    ({"backend": "s3", "bucket": "bkt", "access_key": {"env": "K"}}, "give both 'access_key' and 'secret_key'"),
    ({"backend": "pg"}, "the pg backend needs 'address'"),
])
def test_wrong_settings_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StateBackend.model_validate(data)
