"""The seed's group-folder walk-through on the stack `baikal up` starts, with the `baikal`
command only: the admin creates a Read-Only group folder for User B's project, User B lists it
with R without any invitation, reads a file the admin put there and cannot write."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from services.cli.admin_client import BackendAISigner
from tests.support.up import baikal as run_baikal
from tests.support.up import running_up

PASSWORD = "Passw0rd!"


def baikal(*args: str, cwd: Path, keys: dict[str, str] | None = None, code: int = 0) -> str:
    env = None if keys is None else {"BAIKAL_ENDPOINT": keys["endpoint"],
                                     "BAIKAL_ACCESS_KEY": keys["access_key"],
                                     "BAIKAL_SECRET_KEY": keys["secret_key"]}
    return run_baikal(*args, cwd=cwd, env=env, code=code)


@pytest.mark.timeout(180)
def test_the_seed_walkthrough_on_baikal_up(tmp_path: Path) -> None:
    with running_up(tmp_path / "stack") as up:
        url, data = up.url, up.data
        root = json.loads((data / "superadmin.json").read_text())
        root_keys = {"endpoint": url, **root}
        with httpx.Client(base_url=url, timeout=30, auth=BackendAISigner(
                root["access_key"], root["secret_key"])) as http:
            pid = http.post("/projects", json={"name": "team-b"}).json()["project_id"]
            b = http.post("/users", json={"email": "b@example.com", "password": PASSWORD,
                                          "password_confirm": PASSWORD, "projects": [pid]})
            assert b.status_code == 201, b.text
        b_keys = {"endpoint": url, "access_key": b.json()["access_key"],
                  "secret_key": b.json()["secret_key"]}

        baikal("admin", "folder", "create", "team-data", "--group", "team-b", "--permission",
               "ro", cwd=tmp_path, keys=root_keys)
        source = tmp_path / "readme.txt"
        source.write_text("shared with the project\n")
        baikal("folder", "upload", "team-data", str(source), "--quiet", cwd=tmp_path,
               keys=root_keys)

        listed = {}
        for _ in range(100):  # storage learns B's membership from identity's stream
            listed = json.loads(baikal("admin", "folder", "list", "--json", cwd=tmp_path,
                                       keys=b_keys))
            if listed["items"]:
                break
            time.sleep(0.2)
        [row] = listed["items"]
        assert (row["name"], row["permission_label"]) == ("team-data", "R")
        assert json.loads(baikal("admin", "folder", "invitations", "--json", cwd=tmp_path,
                                 keys=b_keys))["items"] == []
        baikal("folder", "download", "team-data", "readme.txt", str(tmp_path / "got.txt"),
               "--quiet", cwd=tmp_path, keys=b_keys)
        assert (tmp_path / "got.txt").read_text() == "shared with the project\n"
        refused = baikal("folder", "upload", "team-data", str(source), "--quiet",
                         cwd=tmp_path, keys=b_keys, code=1)
        assert "storage.folder.forbidden" in refused
        assert list((data / "vfolders").iterdir())  # the folder is a real directory
