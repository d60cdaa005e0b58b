"""buildorch.yaml's buildx options as a GitHub workflow takes them. Pure.

Each option becomes the input of docker/build-push-action that means the same (`--network`
-> `network`) or, for a bake job, a `--set` line of docker/bake-action. A secret never has its
value in the workflow: it comes from a GitHub secret by name, into the build step's
environment, and buildx reads it from there (`secret-envs`). A secret read from a file locally
(`src=~/.npmrc`) is read from a GitHub secret holding that file's contents instead: the build
gets the same bytes, and no file is left on the runner. An `--ssh` key is loaded into an
ssh-agent of the job's own from a GitHub secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from buildorch.buildx_flags import BuildxFlag, env_name, secret_source, ssh_ids

# buildx option -> docker/build-push-action input, and whether it takes a list
ACTION_INPUTS: dict[str, tuple[str, bool]] = {
    "--add-host": ("add-hosts", True),
    "--allow": ("allow", True),
    "--annotation": ("annotations", True),
    "--attest": ("attests", True),
    "--build-context": ("build-contexts", True),
    "--cache-from": ("cache-from", True),
    "--cache-to": ("cache-to", True),
    "--cgroup-parent": ("cgroup-parent", False),
    "--label": ("labels", True),
    "--network": ("network", False),
    "--no-cache": ("no-cache", False),
    "--no-cache-filter": ("no-cache-filters", True),
    "--provenance": ("provenance", False),
    "--pull": ("pull", False),
    "--sbom": ("sbom", False),
    "--secret": ("secret-envs", True),
    "--shm-size": ("shm-size", False),
    "--ssh": ("ssh", True),
    "--ulimit": ("ulimit", True),
}
# files buildx writes on the machine that builds: the action gives them as its outputs
# (`steps.build.outputs.metadata`, `imageid`), and nothing in the workflow reads them
NOT_CARRIED = frozenset({"--iidfile", "--metadata-file"})
# buildx option -> docker/bake-action input (a switch or a value for every target)
BAKE_INPUTS = {"--no-cache": "no-cache", "--pull": "pull", "--sbom": "sbom",
               "--provenance": "provenance", "--allow": "allow"}  # fmt: skip
# buildx option -> the target attribute `--set *.KEY=VALUE` sets ("+=": added to the file's own)
BAKE_SETS = {
    "--allow": "entitlements+",
    "--annotation": "annotations+",
    "--attest": "attest+",
    "--cache-from": "cache-from+",
    "--cache-to": "cache-to+",
    "--network": "network",
    "--shm-size": "shm-size",
    "--secret": "secrets+",
    "--ssh": "ssh+",
}
# `--set` names these by the key before the `=` of their value: labels.KEY=VALUE
BAKE_KEYED_SETS = {"--label": "labels", "--build-context": "contexts"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Secret:
    """A build secret in the workflow: the variable buildx reads, from a GitHub secret."""

    id: str
    variable: str
    secret: str
    origin: str
    """What the GitHub secret must hold, for the workflow's header."""

    @property
    def buildx(self) -> str:
        return f"id={self.id},env={self.variable}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SshAgent:
    """An ssh-agent the job starts, holding the key of a GitHub secret, for one `--ssh` id."""

    id: str
    secret: str
    socket: str

    @property
    def buildx(self) -> str:
        return f"{self.id}={self.socket}"


def secrets(flags: tuple[BuildxFlag, ...]) -> list[Secret]:
    found = []
    for flag in flags:
        if flag.flag != "--secret" or flag.value is None:
            continue
        source = secret_source(flag.value)
        if source.env is not None:
            found.append(
                Secret(
                    id=source.id,
                    variable=source.env,
                    secret=env_name(source.env),
                    origin=f"what {source.env} holds for local builds",
                )
            )
        else:
            name, file = env_name(source.id), source.file
            found.append(
                Secret(
                    id=source.id,
                    variable=name,
                    secret=name,
                    origin=f"the contents of {file} (`gh secret set {name} < {file}`)",
                )
            )
    return found


def ssh_agents(flags: tuple[BuildxFlag, ...]) -> list[SshAgent]:
    agents = []
    for flag in flags:
        if flag.flag != "--ssh" or flag.value is None:
            continue
        ident, _ = ssh_ids(flag.value)
        slug = re.sub(r"[^A-Za-z0-9_.-]", "-", ident)
        agents.append(
            SshAgent(
                id=ident,
                secret="SSH_KEY" if ident == "default" else env_name(f"SSH_KEY_{ident}"),
                socket=f"${{{{ runner.temp }}}}/ssh-{slug}.sock",
            )
        )
    return agents


def ssh_agent_steps(flags: tuple[BuildxFlag, ...]) -> list[dict[str, Any]]:
    """One step per `--ssh` id: an agent at a socket of its own, with the secret's key."""
    return [
        {
            "name": f"An ssh-agent for --ssh {agent.id}, with the key in the secret {agent.secret}",
            "env": {"KEY": f"${{{{ secrets.{agent.secret} }}}}", "SOCKET": agent.socket},
            "run": 'ssh-agent -a "$SOCKET" > /dev/null\n'
            'printf \'%s\\n\' "$KEY" | SSH_AUTH_SOCK="$SOCKET" ssh-add -\n',
        }
        for agent in ssh_agents(flags)
    ]


def secret_env(flags: tuple[BuildxFlag, ...]) -> dict[str, str]:
    """The build step's environment: each secret's variable, from its GitHub secret."""
    return {s.variable: f"${{{{ secrets.{s.secret} }}}}" for s in secrets(flags)}


def needed_secrets(flags: tuple[BuildxFlag, ...]) -> list[str]:
    """`NAME: what it holds`, for each GitHub secret the builds read."""
    lines = [f"{s.secret}: {s.origin}" for s in secrets(flags)]
    lines += [
        f"{a.secret}: the private key --ssh {a.id} offers (`gh secret set {a.secret} < KEYFILE`)"
        for a in ssh_agents(flags)
    ]
    return list(dict.fromkeys(lines))


def action_inputs(flags: tuple[BuildxFlag, ...]) -> dict[str, Any]:
    """docker/build-push-action's inputs for `flags`, lists as one item a line."""
    inputs: dict[str, Any] = {}
    values: dict[str, list[str]] = {}
    for flag, value in _rewritten(flags, bake=False):
        name, _ = ACTION_INPUTS[flag]
        if value is None:
            inputs[name] = True
        else:
            values.setdefault(name, []).append(value)
    for name, is_list in ACTION_INPUTS.values():
        if name in values:
            inputs[name] = "".join(f"{v}\n" for v in values[name]) if is_list else values[name][-1]
    return inputs


def bake_inputs(flags: tuple[BuildxFlag, ...]) -> tuple[dict[str, Any], list[str], list[str]]:
    """docker/bake-action's inputs, its `--set` lines for every target, and the options bake
    cannot set from outside a bake file (for the workflow's header)."""
    inputs: dict[str, Any] = {}
    sets: list[str] = []
    left: list[str] = []
    for flag, value in _rewritten(flags, bake=True):
        if flag in BAKE_INPUTS:
            inputs[BAKE_INPUTS[flag]] = True if value is None else value
        if flag in BAKE_SETS and value is not None:
            sets.append(f"*.{BAKE_SETS[flag]}={value}")
        elif flag in BAKE_KEYED_SETS and value is not None:
            sets.append(f"*.{BAKE_KEYED_SETS[flag]}.{value}")
        elif flag not in BAKE_INPUTS:
            left.append(flag)
    return inputs, sets, list(dict.fromkeys(left))


def _rewritten(flags: tuple[BuildxFlag, ...], *, bake: bool) -> list[tuple[str, str | None]]:
    """(option, value) of what the workflow carries, with secrets and ssh keys as it provides
    them: build-push-action takes a secret as `ID=VARIABLE`, bake as buildx does."""
    secret_ids = iter(secrets(flags))
    agents = iter(ssh_agents(flags))
    found: list[tuple[str, str | None]] = []
    for flag in flags:
        if flag.flag in NOT_CARRIED:
            continue
        if flag.flag == "--secret":
            secret = next(secret_ids)
            found.append((flag.flag, secret.buildx if bake else f"{secret.id}={secret.variable}"))
        elif flag.flag == "--ssh":
            found.append((flag.flag, next(agents).buildx))
        else:
            found.append((flag.flag, None if flag.value is None else literal(flag.value)))
    return found


def literal(text: str) -> str:
    """`text` as it is, even where it holds `${{` (GitHub would read an expression there)."""
    return text.replace("${{", "${{ '${{' }}")
