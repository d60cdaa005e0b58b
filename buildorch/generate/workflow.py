"""The GitHub Actions workflow of a CiPlan, built as data and dumped as YAML.

The shape is the one Docker documents for multi-platform images on native runners: a matrix
job per platform pushing by digest (`push-by-digest=true`), then a merge job joining the
digests with `docker buildx imagetools create`. Files of the final stage are uploaded as an
artifact per platform. Actions are pinned to released versions; permissions are read-only
except where a job pushes to GitHub's registry.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from buildorch.config import GITHUB_AMD64_RUNNER
from buildorch.detect.emulator_versions import KNOWN_GOOD_IMAGE
from buildorch.generate.files import Generated, stamped
from buildorch.generate.workflow_flags import (
    action_inputs,
    bake_inputs,
    needed_secrets,
    secret_env,
    ssh_agent_steps,
)
from buildorch.plan import CiBake, CiJob, CiPlan

WORKFLOW_PATH = ".github/workflows/buildorch.yml"

# released versions, bumped deliberately (a moving major tag changes builds unannounced)
ACTIONS = {
    "checkout": "actions/checkout@v4.2.2",
    "qemu": "docker/setup-qemu-action@v3.6.0",
    "buildx": "docker/setup-buildx-action@v3.10.0",
    "login": "docker/login-action@v3.4.0",
    "build": "docker/build-push-action@v6.15.0",
    "cache": "actions/cache@v4.2.3",
    "cache-dance": "reproducible-containers/buildkit-cache-dance@v3.1.0",
    "upload": "actions/upload-artifact@v4.6.2",
    "download": "actions/download-artifact@v4.2.1",
    "bake": "docker/bake-action@v6.5.0",
    "bake-targets": "docker/bake-action/subaction/list-targets@v6.5.0",
}

_NOT_A_PR = "github.event_name != 'pull_request'"
_DIGESTS = "${{ runner.temp }}/digests"
_MOUNTS = "buildkit-cache-mounts"


def workflow(plan: CiPlan) -> Generated:
    """The workflow file for `plan`, stamped so a hand edit is never overwritten silently."""
    body = yaml.dump(_document(plan), Dumper=_Dumper, sort_keys=False, width=100)
    # YAML 1.1 (PyYAML) quotes the key `on` lest it read as true; GitHub reads it plainly
    body = body.replace("\n'on':\n", "\non:\n", 1)
    platforms = [j.platform for j in plan.jobs or (plan.bake.jobs if plan.bake else ())]
    header = (
        f"# Builds {plan.name} for {', '.join(map(str, platforms))} on GitHub's\n"
        "# runners, from the same settings as `buildorch build` (buildorch.yaml). Regenerate\n"
        "# it with `buildorch ci github` after changing them.\n"
    )
    if needed := needed_secrets(plan.buildx):
        header += "# The builds read these repository secrets (never their values here):\n"
        header += "".join(f"#   {line}\n" for line in needed)
    if plan.bake is not None and (left := bake_inputs(plan.buildx)[2]):
        header += (
            f"# The bake targets do not get {', '.join(left)}: bake cannot set them from\n"
            f"# outside its file ({', '.join(plan.bake.files)}); set them on its targets.\n"
        )
    return Generated(
        path=WORKFLOW_PATH,
        text=stamped(header + body, "ci github"),
        why=_why(plan),
    )


def _why(plan: CiPlan) -> str:
    parts = []
    if plan.dockerfile is not None:
        parts.append(
            "one job per platform on a native runner where GitHub has one"
            + (", pushed by digest and joined into one image" if plan.tags else "")
            + (", files uploaded per platform" if plan.files else "")
        )
    if plan.bake is not None:
        parts.append(f"a job per target of {', '.join(plan.bake.files)} and platform")
    return "; ".join(parts)


def _document(plan: CiPlan) -> dict[str, Any]:
    jobs: dict[str, Any] = {}
    if plan.dockerfile is not None:
        jobs["build"] = _build_job(plan, plan.dockerfile)
    if plan.tags:
        jobs["merge"] = _merge_job(plan)
    if plan.bake is not None:
        jobs.update(_bake_jobs(plan, plan.bake))
    return {
        "name": f"buildorch {plan.name}",
        "on": {
            "push": {"branches": list(plan.branches)},
            "pull_request": None,
            "workflow_dispatch": None,
        },
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": "${{ github.workflow }}-${{ github.ref }}",
            "cancel-in-progress": True,
        },
        "jobs": jobs,
    }


def _build_job(plan: CiPlan, dockerfile: str) -> dict[str, Any]:
    matrix = [
        {
            "platform": str(job.platform),
            "slug": job.platform.slug,
            "runner": job.runner,
            "strategy": job.strategy.value,
            "qemu": job.qemu,
            "why": job.why,
        }
        for job in plan.jobs
    ]
    steps: list[dict[str, Any]] = [{"uses": ACTIONS["checkout"]}]
    if any(job.qemu for job in plan.jobs):
        steps.append(_qemu_step("matrix.qemu", "matrix.platform"))
    steps.append({"uses": ACTIONS["buildx"]})
    steps.extend(_cache_mount_steps(plan))
    steps.extend(_logins(plan, _pushed_registries(plan)))
    steps.extend(ssh_agent_steps(plan.buildx))
    steps.append(_build_step(plan, dockerfile))
    if plan.tags:
        steps.append(
            {
                "name": "Keep the digest for the merge job",
                "if": _NOT_A_PR,
                "env": {"DIGEST": "${{ steps.build.outputs.digest }}"},
                "run": f'mkdir -p "{_DIGESTS}"\ntouch "{_DIGESTS}/${{DIGEST#sha256:}}"\n',
            }
        )
        steps.append(
            {
                "if": _NOT_A_PR,
                "uses": ACTIONS["upload"],
                "with": {
                    "name": "digests-${{ matrix.slug }}",
                    "path": f"{_DIGESTS}/*",
                    "if-no-files-found": "error",
                    "retention-days": 1,
                },
            }
        )
    if plan.files:
        steps.append(
            {
                "name": "Upload the files of ${{ matrix.platform }}",
                "uses": ACTIONS["upload"],
                "with": {
                    "name": f"{plan.name}-${{{{ matrix.slug }}}}",
                    "path": "out/${{ matrix.slug }}",
                    "if-no-files-found": "error",
                },
            }
        )
    job: dict[str, Any] = {
        "name": "build ${{ matrix.platform }} (${{ matrix.strategy }})",
        "runs-on": "${{ matrix.runner }}",
        "timeout-minutes": 90,
        "strategy": {"fail-fast": False, "matrix": {"include": matrix}},
    }
    if "ghcr.io" in _pushed_registries(plan):
        job["permissions"] = {"contents": "read", "packages": "write"}
    job["steps"] = steps
    return job


def _qemu_step(condition: str, platform: str) -> dict[str, Any]:
    # the action's default image follows binfmt's latest QEMU, whose 9.2 and 10.1 releases crash
    # in ldconfig under apt (docker/setup-qemu-action#199, tonistiigi/binfmt#298): the release
    # buildorch's own plan recommends, pinned
    return {
        "name": "QEMU, for the RUN steps no native runner can take",
        "if": condition,
        "uses": ACTIONS["qemu"],
        "with": {"platforms": f"${{{{ {platform} }}}}", "image": KNOWN_GOOD_IMAGE},
    }


def _build_step(plan: CiPlan, dockerfile: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "context": plan.context,
        "file": dockerfile,
        "platforms": "${{ matrix.platform }}",
    }
    if plan.build_target:
        settings["target"] = plan.build_target
    if plan.build_args:
        settings["build-args"] = "".join(f"{key}={value}\n" for key, value in plan.build_args)
    if plan.cache == "gha":
        settings["cache-from"] = "type=gha,scope=buildorch-${{ matrix.slug }}"
        settings["cache-to"] = "type=gha,mode=max,scope=buildorch-${{ matrix.slug }}"
    else:
        ref = f"{plan.cache_ref}-${{{{ matrix.slug }}}}"
        settings["cache-from"] = f"type=registry,ref={ref}"
        # a pull request from a fork cannot write to the registry: it only reads the cache
        settings["cache-to"] = (
            f"${{{{ {_NOT_A_PR} && format('type=registry,ref={plan.cache_ref}-{{0}},"
            f"mode={plan.cache_mode}', matrix.slug) || '' }}}}"
        )
    extra = action_inputs(plan.buildx)
    for key in ("cache-from", "cache-to"):
        if key in extra:  # the user's own caches, besides buildorch's
            settings[key] = f"{settings[key]}\n{extra.pop(key)}"
    outputs = []
    if plan.tags:
        names = ",".join(dict.fromkeys(_repository(tag) for tag in plan.tags))
        outputs.append(
            f'type=image,"name={names}",push-by-digest=true,name-canonical=true,'
            f"push=${{{{ {_NOT_A_PR} }}}}"
        )
    if plan.files:
        outputs.append("type=local,dest=out/${{ matrix.slug }}")
    settings["outputs"] = "".join(f"{output}\n" for output in outputs)
    settings.update(extra)
    step: dict[str, Any] = {"name": "Build", "id": "build", "uses": ACTIONS["build"]}
    if env := secret_env(plan.buildx):
        step["env"] = env
    step["with"] = settings
    return step


def _cache_mount_steps(plan: CiPlan) -> list[dict[str, Any]]:
    """Carry `RUN --mount=type=cache` folders (ccache, sccache, Go's build cache) between runs:
    the GitHub Actions cache holds layers, not cache mounts, so they are moved in and out."""
    if not plan.cache_mounts:
        return []
    mapping = {
        f"{_MOUNTS}/{index}": {"target": target, **({"id": mount_id} if mount_id else {})}
        for index, (mount_id, target) in enumerate(plan.cache_mounts)
    }
    return [
        {
            "name": "Restore the build's cache mounts",
            "id": "cache-mounts",
            "uses": ACTIONS["cache"],
            "with": {
                "path": _MOUNTS,
                "key": f"{_MOUNTS}-${{{{ matrix.slug }}}}-${{{{ github.sha }}}}",
                "restore-keys": f"{_MOUNTS}-${{{{ matrix.slug }}}}-\n",
            },
        },
        {
            "name": "Move them into BuildKit (and back out after the build)",
            "uses": ACTIONS["cache-dance"],
            "with": {
                "cache-map": json.dumps(mapping, indent=2) + "\n",
                "skip-extraction": "${{ steps.cache-mounts.outputs.cache-hit }}",
            },
        },
    ]


def _logins(
    plan: CiPlan, registries: tuple[str, ...], *, only_pushes: bool = True
) -> list[dict[str, Any]]:
    steps = []
    for registry in registries:
        step: dict[str, Any] = {"name": f"Log in to {registry}", "uses": ACTIONS["login"]}
        if only_pushes:
            step["if"] = _NOT_A_PR
        if registry == "ghcr.io":
            settings = {
                "registry": registry,
                "username": "${{ github.actor }}",
                "password": "${{ secrets.GITHUB_TOKEN }}",
            }
        elif registry == "docker.io":
            settings = {
                "username": "${{ secrets.DOCKERHUB_USERNAME }}",
                "password": "${{ secrets.DOCKERHUB_TOKEN }}",
            }
        else:
            settings = {
                "registry": registry,
                "username": "${{ secrets.REGISTRY_USERNAME }}",
                "password": "${{ secrets.REGISTRY_PASSWORD }}",
            }
        step["with"] = settings
        steps.append(step)
    return steps


def _pushed_registries(plan: CiPlan, *, tags: bool = True) -> tuple[str, ...]:
    """The registries a build job writes to: its tags' and its registry cache's."""
    names = [*(plan.tags if tags else ()), *([plan.cache_ref] if plan.cache_ref else [])]
    return tuple(dict.fromkeys(_registry(name) for name in names))


def _merge_job(plan: CiPlan) -> dict[str, Any]:
    source = _repository(plan.tags[0])
    tags = " ".join(f"-t {tag}" for tag in plan.tags)
    job: dict[str, Any] = {
        "name": "join the platforms into one image",
        "if": _NOT_A_PR,
        "needs": "build",
        "runs-on": _amd64_runner(plan.jobs),
        "timeout-minutes": 30,
    }
    registries = tuple(dict.fromkeys(_registry(tag) for tag in plan.tags))
    if "ghcr.io" in registries:
        job["permissions"] = {"contents": "read", "packages": "write"}
    job["steps"] = [
        {
            "uses": ACTIONS["download"],
            "with": {"path": _DIGESTS, "pattern": "digests-*", "merge-multiple": True},
        },
        *_logins(plan, registries, only_pushes=False),
        {"uses": ACTIONS["buildx"]},
        {
            "name": "Create the manifest list",
            "working-directory": _DIGESTS,
            # one source per digest file: the word splitting is wanted
            "run": "# shellcheck disable=SC2046\n"
            f"docker buildx imagetools create {tags} \\\n"
            f"  $(printf '{source}@sha256:%s ' *)\n",
        },
        {
            "name": "Show it",
            "run": f"docker buildx imagetools inspect {plan.tags[0]}\n",
        },
    ]
    return job


def _registry(tag: str) -> str:
    first = tag.split("/", 1)[0]
    if "/" in tag and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _repository(tag: str) -> str:
    """`ghcr.io/o/app:1.0` -> `ghcr.io/o/app` (a registry port's colon is not a tag's)."""
    name = tag.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def _amd64_runner(jobs: tuple[CiJob, ...]) -> str:
    return next((job.runner for job in jobs if job.platform.arch == "amd64"), GITHUB_AMD64_RUNNER)


def _bake_jobs(plan: CiPlan, bake: CiBake) -> dict[str, Any]:
    """The targets of the bake or compose files, as buildx lists them on the runner, each
    built on every platform's runner: a job per target and platform, with a cache of its own
    (targets sharing one would overwrite each other's)."""
    listing: dict[str, Any] = {"uses": ACTIONS["bake-targets"], "id": "list"}
    if bake.workdir != ".":
        listing["with"] = {"workdir": bake.workdir}
    targets = {
        "name": "list the bake targets",
        "runs-on": _amd64_runner(bake.jobs),
        "timeout-minutes": 10,
        "outputs": {"targets": "${{ steps.list.outputs.targets }}"},
        "steps": [{"uses": ACTIONS["checkout"]}, listing],
    }
    matrix = {
        "target": "${{ fromJSON(needs.bake-targets.outputs.targets) }}",
        "platform": [
            {"name": str(job.platform), "slug": job.platform.slug, "runner": job.runner,
             "qemu": job.qemu, "why": job.why}
            for job in bake.jobs
        ],
    }  # fmt: skip
    steps: list[dict[str, Any]] = [{"uses": ACTIONS["checkout"]}]
    if any(job.qemu for job in bake.jobs):
        steps.append(_qemu_step("matrix.platform.qemu", "matrix.platform.name"))
    registries = _pushed_registries(plan, tags=False)
    steps += [
        {"uses": ACTIONS["buildx"]},
        *_logins(plan, registries),
        *ssh_agent_steps(plan.buildx),
        _bake_step(plan, bake),
    ]
    if bake.files_out:
        steps.append(
            {
                "name": "Upload the files of ${{ matrix.target }} for ${{ matrix.platform.name }}",
                "uses": ACTIONS["upload"],
                "with": {
                    "name": "bake-${{ matrix.target }}-${{ matrix.platform.slug }}",
                    "path": "${{ runner.temp }}/out",
                    "if-no-files-found": "error",
                },
            }
        )
    job: dict[str, Any] = {
        "name": "bake ${{ matrix.target }} for ${{ matrix.platform.name }}",
        "needs": "bake-targets",
        "runs-on": "${{ matrix.platform.runner }}",
        "timeout-minutes": 90,
        "strategy": {"fail-fast": False, "matrix": matrix},
    }
    if "ghcr.io" in registries:
        job["permissions"] = {"contents": "read", "packages": "write"}
    job["steps"] = steps
    return {"bake-targets": targets, "bake": job}


def _bake_step(plan: CiPlan, bake: CiBake) -> dict[str, Any]:
    scope = "${{ matrix.target }}-${{ matrix.platform.slug }}"
    sets = ["*.platform=${{ matrix.platform.name }}"]
    if plan.cache == "gha":
        sets += [
            f"*.cache-from=type=gha,scope=buildorch-{scope}",
            f"*.cache-to=type=gha,mode=max,scope=buildorch-{scope}",
        ]
    else:
        sets += [
            f"*.cache-from=type=registry,ref={plan.cache_ref}-{scope}",
            f"${{{{ {_NOT_A_PR} && format('*.cache-to=type=registry,ref={plan.cache_ref}-{{0}}-"
            f"{{1}},mode={plan.cache_mode}', matrix.target, matrix.platform.slug) || '' }}}}",
        ]
    sets.append(
        "*.output=type=local,dest=${{ runner.temp }}/out"
        if bake.files_out
        else "*.output=type=cacheonly"
    )
    inputs, extra, _ = bake_inputs(plan.buildx)
    settings: dict[str, Any] = {"source": "."}
    if bake.workdir != ".":
        settings["workdir"] = bake.workdir
    settings["targets"] = "${{ matrix.target }}"
    settings["set"] = "".join(f"{line}\n" for line in [*sets, *extra])
    settings.update(inputs)
    step: dict[str, Any] = {"name": "Bake ${{ matrix.target }}", "uses": ACTIONS["bake"]}
    if env := secret_env(plan.buildx):
        step["env"] = env
    step["with"] = settings
    return step


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key and multi-line strings (scripts, lists of build args)
    as `|` blocks, as people write workflows."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _represent_nothing(dumper: yaml.SafeDumper, _: None) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:null", "")  # `pull_request:`


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(type(None), _represent_nothing)
