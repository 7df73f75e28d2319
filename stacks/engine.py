"""The real engine for one environment: Pulumi's Automation API running the same inline program as ``plan``.

Where things live, per project (the directory holding ``stacks/``, or the stack file's directory):

- ``.mlinfra/state``: the default state backend (``file://``; no account). ``backend.url`` in the config or
  ``--backend`` point elsewhere (``s3://``, ``gs://``, ``azblob://``, Pulumi Cloud), with their locking.
- ``.mlinfra/work/<env>``: the workspace of each environment (the engine writes its project and stack files
  there, never over the repository's own ``Pulumi.yaml``).
- ``.mlinfra/passphrase``: created once (0600, with a warning) when the passphrase secrets provider is used and
  neither ``PULUMI_CONFIG_PASSPHRASE`` nor ``PULUMI_CONFIG_PASSPHRASE_FILE`` is set.

Credentials the platform generates (the on-prem object store's root user) are made once, handed to the
program as secrets and kept, encrypted, as a secret stack output; later runs, on any machine with access
to the backend, read them back from the state instead of generating new ones.
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlinfra.stacks.program import PROJECT, SECRET_NAMES

if TYPE_CHECKING:
    from pulumi import automation as auto

    from mlinfra.stacks.config import StackConfig

GENERATED_OUTPUT = "mlinfraGeneratedCredentials"
ENGINE_HINT = ("install the Pulumi CLI (https://www.pulumi.com/docs/install/), or on machines without the "
               "installer build it with `scripts/bootstrap-engine` and put the directory it prints on PATH "
               "(or set MLINFRA_PULUMI_BIN to it)")
PACKS_DIR = Path(__file__).resolve().parent.parent / "policies"


class EngineError(Exception):
    """The engine could not do what was asked; the message says why and what to do."""


class EngineMissing(EngineError):
    """No Pulumi CLI to run."""


class StackLocked(EngineError):
    """Another update holds the environment's lock."""


@dataclass(frozen=True)
class Environment:
    """One environment as the engine sees it: its config, where its state and workspace live."""

    config: StackConfig
    file: Path
    project_dir: Path
    backend_url: str
    secrets_provider: str  # 'passphrase' or a KMS URL

    @property
    def name(self) -> str:
        """Stack name = environment name."""
        return self.config.name

    @property
    def work_dir(self) -> Path:
        """The engine's workspace for this environment."""
        return self.project_dir / ".mlinfra" / "work" / self.name


def project_dir_of(file: Path) -> Path:
    """The project of a stack file: the parent of its ``stacks/`` directory, else the file's directory."""
    parent = file.resolve().parent
    return parent.parent if parent.name == "stacks" else parent


def environment(config: StackConfig, file: Path, backend: str | None = None) -> Environment:
    """Resolve where an environment's state lives: ``--backend``, else the config, else ``.mlinfra/state``."""
    project = project_dir_of(file)
    url = backend or config.backend.url or (project / ".mlinfra" / "state").as_uri()
    return Environment(config=config, file=file.resolve(), project_dir=project, backend_url=url,
                       secrets_provider=config.backend.secrets_provider or "passphrase")


def ensure_backend(url: str) -> None:
    """Create a local backend's directory (the engine refuses a missing one)."""
    if url.startswith("file://"):
        Path(url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def pulumi_bin_dir() -> Path:
    """The directory holding the ``pulumi`` CLI: ``MLINFRA_PULUMI_BIN``, else PATH; :class:`EngineMissing` if none."""
    explicit = os.environ.get("MLINFRA_PULUMI_BIN")
    if explicit:
        if (Path(explicit) / "pulumi").is_file():
            return Path(explicit)
        raise EngineMissing(f"MLINFRA_PULUMI_BIN={explicit} has no pulumi executable; {ENGINE_HINT}")
    found = shutil.which("pulumi")
    if found:
        return Path(found).resolve().parent
    raise EngineMissing(f"the Pulumi CLI is not installed (no `pulumi` on PATH); {ENGINE_HINT}")


def passphrase_env(env: Environment, warn: Callable[[str], None]) -> dict[str, str]:
    """Environment variables for the passphrase provider (creating ``.mlinfra/passphrase`` once if needed)."""
    if env.secrets_provider != "passphrase":
        return {}
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ or "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ:
        return {}
    path = env.project_dir / ".mlinfra" / "passphrase"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(random_secrets.token_urlsafe(32) + "\n")
        warn(f"created {path} (mode 0600): it encrypts this project's local secrets. Keep it safe and out of "
             "git; without it the secrets in the state cannot be decrypted. Set PULUMI_CONFIG_PASSPHRASE or "
             "PULUMI_CONFIG_PASSPHRASE_FILE to use your own.")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise EngineError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}


def render_relative(config: StackConfig, env: Environment) -> StackConfig:
    """Render mode: a relative ``target.render_to`` is meant from the project directory. The engine resolves it
    from the directory mlinfra runs in (the inline program's working directory), so hand it the same directory
    relative to that; run from the project root, it is the configured path unchanged (stable state)."""
    render_to = config.target.render_to
    if not render_to or Path(render_to).is_absolute():
        return config
    relative = os.path.relpath(env.project_dir / render_to, Path.cwd())
    return config.model_copy(update={"target": config.target.model_copy(update={"render_to": relative})})


@dataclass
class Session:
    """An opened environment: the Automation API stack plus what its program needs."""

    env: Environment
    stack: auto.Stack
    generated: dict[str, str] = field(default_factory=dict)


def open_stack(env: Environment, *, warn: Callable[[str], None], create: bool = True) -> Session:
    """Create or select the environment's stack in its backend, with the inline program."""
    from pulumi import automation as auto

    from mlinfra.stacks.program import program

    bin_dir = pulumi_bin_dir()
    env.work_dir.mkdir(parents=True, exist_ok=True)
    ensure_backend(env.backend_url)
    if local_lock(env):  # the file backend is read before the engine checks its lock: say "locked" first
        raise StackLocked(locked_message(env))
    env_vars = {
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "MLINFRA_STACK_FILE": str(env.file),  # the CrossGuard packs judge this environment's config
        **passphrase_env(env, warn),
    }
    config = render_relative(env.config, env)
    generated: dict[str, str] = {}

    def inline() -> None:
        import pulumi

        values = {k: pulumi.Output.secret(v) for k, v in generated.items()}
        program(config, values)
        if generated:
            pulumi.export(GENERATED_OUTPUT, pulumi.Output.secret(dict(generated)))

    options = auto.LocalWorkspaceOptions(
        work_dir=str(env.work_dir),
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python",
                                              backend=auto.ProjectBackend(url=env.backend_url)),
        secrets_provider=None if env.secrets_provider == "passphrase" else env.secrets_provider,
        env_vars=env_vars,
        pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent), skip_version_check=False)
        if (bin_dir / "pulumi").is_file() else None,
    )
    with engine_errors(env):
        if create:
            stack = auto.create_or_select_stack(stack_name=env.name, project_name=PROJECT, program=inline,
                                                opts=options)
        else:
            stack = auto.select_stack(stack_name=env.name, project_name=PROJECT, program=inline, opts=options)
    session = Session(env, stack, generated)
    if env.config.target.cloud == "onprem":
        generated.update(_credentials(session))
    return session


def _credentials(session: Session) -> dict[str, str]:
    """The object store's generated credentials: from the state when an earlier run made them, else new."""
    try:
        previous = session.stack.outputs().get(GENERATED_OUTPUT)
    except Exception:  # a stack without a finished update has no outputs yet
        previous = None
    values = dict(previous.value) if previous is not None and isinstance(previous.value, dict) else {}
    target = session.env.config.target
    wanted = [name for name in SECRET_NAMES
              if (name != "objectStoreKesApiKey" or target.kms_endpoint)
              and (not name.startswith("objectStore") or target.object_store_endpoint is None)]
    for name in wanted:
        if not values.get(name):
            values[name] = ("mlinfra-" + random_secrets.token_hex(6)) if name.endswith("User") else (
                random_secrets.token_urlsafe(32))
    return {name: values[name] for name in wanted}


@contextmanager
def engine_errors(env: Environment) -> Iterator[None]:
    """Turn Automation API failures into :class:`EngineError` messages a person can act on."""
    from pulumi import automation as auto

    global ENGINE_CALLS
    ENGINE_CALLS += 1
    try:
        yield
    except auto.ConcurrentUpdateError:
        raise StackLocked(locked_message(env)) from None
    except auto.CommandError as exc:
        text = str(exc)
        if "locked" in text.lower() or "currently in progress" in text.lower() or local_lock(env):
            raise StackLocked(locked_message(env)) from None
        if "pulumi: not found" in text or "No such file or directory: 'pulumi'" in text:
            raise EngineMissing(f"the Pulumi CLI could not be run; {ENGINE_HINT}") from None
        raise EngineError(_command_error(text)) from None
    except FileNotFoundError as exc:
        raise EngineMissing(f"the Pulumi CLI could not be run ({exc}); {ENGINE_HINT}") from None
    finally:
        ENGINE_CALLS -= 1


ENGINE_CALLS = 0  # engine commands running now (Ctrl-C handling waits for them to stop cleanly)


def local_lock(env: Environment) -> bool:
    """True when a file backend holds an update lock on this environment's stack."""
    if not env.backend_url.startswith("file://"):
        return False
    locks = Path(env.backend_url.removeprefix("file://")) / ".pulumi" / "locks"
    return any(path.parent.name == env.name for path in locks.rglob("*.json")) if locks.is_dir() else False


def locked_message(env: Environment) -> str:
    where = env.backend_url
    return (f"environment {env.name!r} is locked: another update is running on it ({where}). Wait for it to "
            "finish. If a crashed run left the lock behind, remove it with `pulumi cancel` (Pulumi Cloud) or "
            "by deleting the lock under .pulumi/locks in the backend.")


def _command_error(text: str) -> str:
    """The useful lines of a failed engine command (its stderr), without the Automation API's preamble."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    keep = [line.removeprefix("stderr:").strip() for line in lines if not line.startswith(("code:", "stdout:"))]
    return "\n".join(keep[-25:]) or "the engine failed"


def protected_resources(stack: auto.Stack) -> list[tuple[str, str]]:
    """(type, name) of every protected resource in the stack's state."""
    state = stack.export_stack().deployment or {}
    found = []
    for resource in state.get("resources", []) or []:
        if resource.get("protect"):
            urn = str(resource.get("urn", ""))
            found.append((str(resource.get("type", "")), urn.rpartition("::")[2]))
    return found


def policy_packs() -> list[str]:
    """The CrossGuard packs passed to preview and up."""
    return [str(PACKS_DIR / "residency"), str(PACKS_DIR / "security")]


def event_line(event: Any) -> str | None:
    """A one-line progress message for an engine event (None for events not worth a line)."""
    outputs = getattr(event, "res_outputs_event", None)
    if outputs is not None:
        meta = outputs.metadata
        op = getattr(meta.op, "value", str(meta.op))
        if op == "same":
            return None
        return f"{op:>8}  {meta.type}  {meta.urn.rpartition('::')[2]}"
    failed = getattr(event, "res_op_failed_event", None)
    if failed is not None:
        meta = failed.metadata
        return f"  failed  {meta.type}  {meta.urn.rpartition('::')[2]}"
    diagnostic = getattr(event, "diagnostic_event", None)
    if diagnostic is not None and diagnostic.severity in ("error", "warning"):
        return f"{diagnostic.severity:>8}  {diagnostic.message.strip()}"
    policy = getattr(event, "policy_event", None)
    if policy is not None:
        message = " - ".join(line.strip() for line in policy.message.splitlines() if line.strip())
        where = (policy.resource_urn or "").rpartition("::")[2] or "stack"
        return f"  policy  {policy.enforcement_level} {policy.policy_name} on {where}: {message}"
    return None


def event_json(event: Any) -> str:
    """An engine event as one JSON line (for ``--json``)."""
    from pulumi.automation.events import EngineEvent

    if isinstance(event, EngineEvent):
        return json.dumps(_jsonable(event), default=str, sort_keys=True)
    return json.dumps({"event": str(event)})


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dict__"):
        return {k: _jsonable(v) for k, v in vars(value).items() if v is not None}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return getattr(value, "value", value)


def outputs_text(outputs: Mapping[str, Any], *, show_secrets: bool = False) -> str:
    """Stack outputs as ``key = value`` lines, secrets masked unless asked."""
    lines = []
    for key in sorted(outputs):
        if key == GENERATED_OUTPUT:
            continue
        value = outputs[key]
        shown = "[secret]" if value.secret and not show_secrets else value.value
        lines.append(f"{key} = {shown if isinstance(shown, str) else json.dumps(shown, default=str)}")
    return "\n".join(lines)


def stdin_is_tty() -> bool:
    """True when a person can answer a prompt."""
    return sys.stdin.isatty()
