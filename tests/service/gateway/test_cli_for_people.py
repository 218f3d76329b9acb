"""The `baikal` command as a person uses it: prompted passwords, tables that never break a
value, unlimited and zero told apart."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import httpx
import pytest

PASSWORD = "Passw0rd!"
FULL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00")
SHORT_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def emails(baikal) -> set[str]:
    listed = json.loads(baikal("admin", "user", "list", "--status", "all", "--limit", "1000",
                               "--json"))
    return {u["email"] for u in listed["items"]}


def test_user_create_without_password_asks_twice_hidden_and_creates(baikal) -> None:
    out = baikal("admin", "user", "create", "prompted@example.com", "--json",
                 input=f"{PASSWORD}\n{PASSWORD}\n")
    assert "Password:" in out and "Repeat for confirmation:" in out
    assert PASSWORD not in out  # hidden input is not echoed
    assert json.loads(out[out.index("{"):])["email"] == "prompted@example.com"


@pytest.mark.parametrize(("typed", "reason"), [
    ("\n", "password is required (user.password_empty)"),
    (f"{PASSWORD}\n\n", "password confirmation is required "
                        "(user.password_confirmation_missing)"),
    (f"{PASSWORD}\nPassw0rd?\n", "password confirmation does not match the password "
                                 "(user.password_confirmation_mismatch)"),
    ("weakweak\nweakweak\n", "password needs a digit, a special character "
                             "(user.password_too_weak)"),
])
def test_a_prompted_password_is_refused_with_the_seeds_reason_before_anything_is_sent(
        baikal, typed: str, reason: str) -> None:
    email = f"refused-{abs(hash(reason)) % 10_000}@example.com"
    out = baikal("admin", "user", "create", email, input=typed, code=2)
    assert f"error: {reason}; nothing was sent" in out
    assert email not in emails(baikal)


def table_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


def test_tables_show_short_ids_and_times_on_one_line_and_full_ones_with_wide(
        baikal, root: httpx.Client) -> None:
    domains = root.get("/domains").json()["items"]
    domain_id = next(d["domain_id"] for d in domains if d["name"] == "default")
    role = json.loads(baikal("admin", "role", "create", "table-check", "--scope",
                             f"domain:{domain_id}", "--json"))
    role_id = role["role_id"]
    short = baikal("admin", "role", "list", "--name", "table-check")
    rows = table_rows(short)
    assert len(rows) == 1, short  # one line per role: nothing wrapped onto a second line
    assert role_id[:8] in rows[0] and role_id not in rows[0]
    assert SHORT_TIME.search(rows[0]) and not FULL_TIME.search(rows[0])
    wide = table_rows(baikal("admin", "role", "list", "--name", "table-check", "--wide"))
    assert len(wide) == 1 and role_id in wide[0] and FULL_TIME.search(wide[0])
    # The short id a table shows is enough to name the role.
    shown = json.loads(baikal("admin", "role", "show", role_id[:8], "--json"))
    assert shown["role_id"] == role_id
    keypairs = table_rows(baikal("admin", "keypair", "list"))
    assert keypairs and all(re.search(r"AKIA[A-Z2-7]{16}", row) for row in keypairs)


def test_unlimited_and_limited_to_zero_slots_look_different_everywhere(
        baikal, tmp_path: Path) -> None:
    baikal("admin", "policy", "create", "zero-gpu", "--cpu", "2", "--mem", "4")
    baikal("admin", "policy", "create", "open-gpu", "--cpu", "2",
           "--set", "default_for_unspecified=unlimited")
    listed = {row.split("│")[1].strip(): [c.strip() for c in row.split("│")[1:-1]]
              for row in table_rows(baikal("admin", "policy", "list"))}
    # name, references, cpu, mem, cuda.device, cuda.shares, ...
    assert listed["zero-gpu"][2:6] == ["2", "4 GiB", "0", "0"]
    assert listed["open-gpu"][2:6] == ["2", "∞", "∞", "∞"]
    shown = baikal("admin", "policy", "show", "zero-gpu")
    assert re.search(r"│ cuda\.device\s+│ 0\s+│", shown)
    assert re.search(r"│ cuda\.device\s+│ ∞\s+│", baikal("admin", "policy", "show", "open-gpu"))
    created = json.loads(baikal("admin", "user", "create", "slots@example.com",
                                "--password", PASSWORD, "--json"))
    baikal("admin", "keypair", "set-policy", created["access_key"], "zero-gpu")
    row = next(r for r in table_rows(baikal("admin", "keypair", "list", "--email", "slots@"))
               if created["access_key"] in r)
    assert [c.strip() for c in row.split("│")[-5:-1]] == ["2", "4 GiB", "0", "0"]

    baikal("export", "policies", "-o", str(tmp_path / "policies.csv"))
    with open(tmp_path / "policies.csv", newline="") as handle:
        policies = {r["name"]: r for r in csv.DictReader(handle)}
    assert policies["zero-gpu"]["total_resource_slots.cuda.device"] == "0"
    assert policies["open-gpu"]["total_resource_slots.cuda.device"] == "unlimited"
    baikal("export", "keypairs", "-o", str(tmp_path / "keypairs.csv"))
    with open(tmp_path / "keypairs.csv", newline="") as handle:
        keys = {r["access_key"]: r for r in csv.DictReader(handle)}
    assert keys[created["access_key"]]["total_resource_slots.cuda.shares"] == "0"
    assert keys[created["access_key"]]["total_resource_slots.mem"] == str(4 * 1024**3)


def test_a_policy_that_allows_no_resource_at_all_says_so(baikal) -> None:
    out = baikal("admin", "policy", "create", "allows-nothing")
    assert "this policy allows no resource at all" in out
    assert "allows no resource" not in baikal("admin", "policy", "create", "allows-cpu",
                                              "--cpu", "1")
