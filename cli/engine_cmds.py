"""Engine verbs for one environment: ``preview``, ``up``, ``destroy``, ``refresh``, ``drift``, ``outputs``, ``stacks``.

ENV is a stack file, or an environment name meaning ``stacks/ENV.yaml``. ``preview`` and ``up`` run the offline
policy check first: a mandatory violation stops them before the engine is even started; the CrossGuard packs
then run inside the engine too. Exit codes: 0 done, 1 failed (policy, engine, lock, drift found), 2 bad input
or no engine, 130 interrupted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlinfra.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, err, fail, load_or_exit

if TYPE_CHECKING:
    from mlinfra.stacks.engine import Session

app = typer.Typer()
EXIT_INTERRUPTED = 130

EnvArg = Annotated[str, typer.Argument(help="Stack file, or environment name (stacks/ENV.yaml).")]
BackendOpt = Annotated[str | None, typer.Option(
    "--backend", help="State backend URL (file://, s3://, gs://, azblob://, https://api.pulumi.com). "
    "Default: backend.url of the config, else .mlinfra/state.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking (required without a terminal).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Engine events as JSON lines on stdout.")]


def stack_file(value: str) -> Path:
    """A path as given, or ``stacks/<name>.yaml`` for a bare environment name."""
    path = Path(value)
    if path.suffix in (".yaml", ".yml") or "/" in value or path.exists():
        return path
    return Path("stacks") / f"{value}.yaml"


@contextmanager
def engine_run(action: str) -> Iterator[None]:
    """Engine failures as one clear message and an exit code; Ctrl-C as a clean stop.

    The first Ctrl-C is left to the engine (it reaches the Pulumi CLI through the terminal's process group): the
    CLI finishes the operations in flight, writes the state and releases the lock, and only then do we stop.
    Exiting at once would cut the CLI's output pipe and could kill it mid-write, leaving the stack locked. A
    second Ctrl-C aborts immediately.
    """
    from mlinfra.stacks.engine import EngineError, EngineMissing

    interrupted: list[bool] = []

    def on_interrupt(_signum: int, _frame: object) -> None:
        from mlinfra.stacks import engine

        if interrupted or not engine.ENGINE_CALLS:  # nothing to let finish: stop now, nothing was changed
            raise KeyboardInterrupt
        interrupted.append(True)
        err(f"interrupt: {action} stops after the operations in flight (Ctrl-C again to abort at once)")

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if main else None
    try:
        yield
    except EngineMissing as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except EngineError as exc:
        if interrupted:
            _stopped(action)
        fail(f"{action} failed: {exc}", EXIT_FAILED)
    except KeyboardInterrupt:
        _stopped(action)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    if interrupted:
        _stopped(action)


def _stopped(action: str) -> None:
    err(f"interrupted: {action} was cancelled. The engine finished the operations in flight and released the "
        "lock; run it again to converge.")
    raise typer.Exit(EXIT_INTERRUPTED)


def _open(env_arg: str, backend: str | None, *, create: bool = True, gate: bool = False,
          live: str | None = None) -> Session:
    from mlinfra.stacks.engine import StackLocked, environment, local_lock, locked_message, open_stack

    file = stack_file(env_arg)
    config = load_or_exit(file, require_buildable=True)
    target = environment(config, file, backend)
    if local_lock(target):  # before the (slower) policy check: a second run learns it is locked at once
        raise StackLocked(locked_message(target))
    if live and config.target.render_to:
        fail(f"{file}: target.render_to: {live} compares the state with live resources, and a rendered "
             "environment has none (its manifests are applied by your GitOps tool); run it against the cluster "
             "the manifests went to, without render_to", EXIT_BAD_INPUT)
    if gate:
        _policy_gate(file)
    return open_stack(target, warn=lambda m: err(f"warning: {m}"), create=create)


def _policy_gate(file: Path) -> None:
    """The offline policy check; a mandatory violation or expired waiver stops here, before any change."""
    from mlinfra.policies.check import all_rules, check_file
    from mlinfra.policies.report import FORMATS
    from mlinfra.stacks.loader import ConfigError

    try:
        report = check_file(file)
    except ConfigError as error:
        for issue in error.issues:
            err(f"error: {issue}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if report.failed:
        err(FORMATS["table"]([report], list(all_rules())))
        fail(f"{file}: policy check failed ({report.mandatory} mandatory violations, "
             f"{len(report.expired_waivers)} expired waivers); nothing was changed", EXIT_FAILED)
    if report.advisory or report.waived:
        err(f"policy check: passed with {report.advisory} advisory findings and {report.waived} waived "
            f"(`mlinfra policy check {file}` lists them)")


class Progress:
    """Engine events as progress: a live status line on a terminal, one line per step otherwise, or JSON lines.

    Used as ``with Progress(as_json) as on_event: stack.up(on_event=on_event)``; policy findings and errors are
    always printed as lines, above the live status.
    """

    def __init__(self, as_json: bool, verb: str = "working") -> None:
        from rich.console import Console

        self.as_json = as_json
        self.verb = verb
        self.console = Console(stderr=True, highlight=False)
        self.live = not as_json and self.console.is_terminal
        self.steps: dict[str, int] = {}
        self.status: Any = None

    def __enter__(self) -> Progress:
        if self.live:
            self.status = self.console.status(f"{self.verb}: starting the engine")
            self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(None, None, None)

    def __call__(self, event: Any) -> None:
        from mlinfra.stacks.engine import event_json, event_line

        if self.as_json:
            typer.echo(event_json(event))
            return
        line = event_line(event)
        if line is None:
            return
        step = getattr(event, "res_outputs_event", None)
        if step is not None and self.status is not None:
            op = line.split()[0]
            self.steps[op] = self.steps.get(op, 0) + 1
            done = ", ".join(f"{n} {k}" for k, n in sorted(self.steps.items()))
            self.status.update(f"{self.verb}: {done}; last: {' '.join(line.split()[1:])}")
        elif self.live:
            self.console.print(line, markup=False)
        else:
            err(line)


def _confirm(question: str, yes: bool) -> None:
    from mlinfra.stacks.engine import stdin_is_tty

    if yes:
        return
    if not stdin_is_tty():
        fail("stdin is not a terminal: pass --yes to apply changes without a prompt", EXIT_BAD_INPUT)
    if not typer.confirm(question, default=False, err=True):
        err("nothing was changed")
        raise typer.Exit(0)


def _summary(changes: dict[str, int] | None) -> str:
    changes = {k: v for k, v in (changes or {}).items() if v}
    moving = {k: v for k, v in changes.items() if k != "same"}
    if not moving:
        return f"no changes ({changes.get('same', 0)} resources unchanged)"
    return ", ".join(f"{v} to {k}" for k, v in sorted(moving.items())) + f"; {changes.get('same', 0)} unchanged"


@app.command()
def preview(env: EnvArg, backend: BackendOpt = None, as_json: JsonOpt = False) -> None:
    """What `up` would change in ENV (policy check first, packs in the engine)."""
    from mlinfra.stacks.engine import engine_errors, policy_packs

    with engine_run("preview"):
        session = _open(env, backend, gate=True)
        with engine_errors(session.env), Progress(as_json, "preview") as on_event:
            result = session.stack.preview(policy_packs=policy_packs(), on_event=on_event)
        if not as_json:
            typer.echo(f"{session.env.name}: {_summary(result.change_summary)}")


@app.command()
def up(env: EnvArg, backend: BackendOpt = None, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
    """Provision ENV: policy check, preview, confirm, apply; outputs at the end."""
    from mlinfra.stacks.engine import engine_errors, outputs_text, policy_packs, stdin_is_tty

    if not yes and not stdin_is_tty():
        fail("stdin is not a terminal: pass --yes to apply changes without a prompt", EXIT_BAD_INPUT)
    with engine_run("up"):
        session = _open(env, backend, gate=True)
        packs = policy_packs()
        if not yes:
            _confirm_after_preview(session, packs, as_json)
        with engine_errors(session.env):
            with Progress(as_json, "up") as on_event:
                result = session.stack.up(policy_packs=packs, on_event=on_event)
            outputs = session.stack.outputs()
        if not as_json:
            typer.echo(f"{session.env.name}: {_summary(result.summary.resource_changes)}")
            typer.echo(outputs_text(outputs))


def _confirm_after_preview(session: Session, packs: list[str], as_json: bool) -> None:
    from mlinfra.stacks.engine import engine_errors, stdin_is_tty

    if not stdin_is_tty():
        fail("stdin is not a terminal: pass --yes to apply changes without a prompt", EXIT_BAD_INPUT)
    with engine_errors(session.env), Progress(as_json, "preview") as on_event:
        result = session.stack.preview(policy_packs=packs, on_event=on_event)
    summary = _summary(result.change_summary)
    err(f"{session.env.name}: {summary}")
    if summary.startswith("no changes"):
        raise typer.Exit(0)
    _confirm(f"Apply these changes to {session.env.name}?", yes=False)


@app.command()
def destroy(env: EnvArg, backend: BackendOpt = None, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
    """Delete what ENV created, except protected data stores (listed, with the reason)."""
    from mlinfra.stacks.engine import engine_errors, protected_resources

    with engine_run("destroy"):
        session = _open(env, backend, create=False)
        with engine_errors(session.env):
            kept = protected_resources(session.stack)
        for type_, name in kept:
            err(f"will not delete {type_} {name}: protected data store (protect_data / prod)")
        _confirm(f"Destroy {session.env.name} (keeping {len(kept)} protected resources)?", yes)
        with engine_errors(session.env), Progress(as_json, "destroy") as on_event:
            result = session.stack.destroy(exclude_protected=True, on_event=on_event)
        if not as_json:
            typer.echo(f"{session.env.name}: {_summary(result.summary.resource_changes)}")
            if kept:
                typer.echo(f"kept {len(kept)} protected resources; they stay in the state. Deleting them takes "
                           "protect_data: false (never in prod) and an `up` first.")


@app.command()
def refresh(env: EnvArg, backend: BackendOpt = None, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
    """Update ENV's state from what really exists."""
    from mlinfra.stacks.engine import engine_errors

    with engine_run("refresh"):
        session = _open(env, backend, create=False, live="refresh")
        _confirm(f"Refresh the state of {session.env.name} from the real resources?", yes)
        with engine_errors(session.env), Progress(as_json, "refresh") as on_event:
            result = session.stack.refresh(on_event=on_event)
        if not as_json:
            typer.echo(f"{session.env.name}: {_summary(result.summary.resource_changes)}")


@app.command()
def drift(env: EnvArg, backend: BackendOpt = None, as_json: JsonOpt = False) -> None:
    """Compare ENV's state with the real resources without changing anything; exit 1 when they differ."""
    from mlinfra.stacks.engine import engine_errors

    with engine_run("drift"):
        session = _open(env, backend, create=False, live="drift")
        with engine_errors(session.env), Progress(as_json, "drift") as on_event:
            result = session.stack.preview_refresh(on_event=on_event)
        summary = _summary(result.change_summary)
        typer.echo(f"{session.env.name}: {'no drift' if summary.startswith('no changes') else 'drift: ' + summary}")
        if not summary.startswith("no changes"):
            raise typer.Exit(EXIT_FAILED)


@app.command()
def outputs(
    env: EnvArg, backend: BackendOpt = None,
    show_secrets: Annotated[bool, typer.Option(help="Print secret values.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="As a JSON object.")] = False,
) -> None:
    """ENV's stack outputs (secrets masked)."""
    import json

    from mlinfra.stacks.engine import GENERATED_OUTPUT, engine_errors, outputs_text

    with engine_run("outputs"):
        session = _open(env, backend, create=False)
        with engine_errors(session.env):
            values = session.stack.outputs()
        if as_json:
            typer.echo(json.dumps({k: (v.value if show_secrets or not v.secret else "[secret]")
                                   for k, v in values.items() if k != GENERATED_OUTPUT}, indent=2, default=str))
        else:
            typer.echo(outputs_text(values, show_secrets=show_secrets))


@app.command()
def stacks(
    env: Annotated[str | None, typer.Argument(help="A stack file whose backend to list. Default: .mlinfra/state.")]
    = None,
    backend: BackendOpt = None,
) -> None:
    """Environments recorded in a state backend, with their last update."""
    from pulumi import automation as auto

    from mlinfra.stacks.engine import (
        engine_errors,
        ensure_backend,
        environment,
        passphrase_env,
        project_dir_of,
        pulumi_bin_dir,
    )
    from mlinfra.stacks.program import PROJECT

    with engine_run("stacks"):
        if env is not None:
            file = stack_file(env)
            target = environment(load_or_exit(file), file, backend)
            url, project = target.backend_url, target.project_dir
            extra = passphrase_env(target, lambda m: err(f"warning: {m}"))
        else:
            project = project_dir_of(Path("stacks") / "x.yaml")
            url = backend or (project / ".mlinfra" / "state").as_uri()
            extra = {}
        bin_dir = pulumi_bin_dir()
        ensure_backend(url)
        work = project / ".mlinfra" / "work"
        work.mkdir(parents=True, exist_ok=True)
        workspace = auto.LocalWorkspace(
            work_dir=str(work), env_vars={"PULUMI_SKIP_UPDATE_CHECK": "true", **extra},
            project_settings=auto.ProjectSettings(name=PROJECT, runtime="python", backend=auto.ProjectBackend(url)),
            pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent)))
        from mlinfra.stacks.engine import Environment

        with engine_errors(Environment(None, Path("."), project, url, "passphrase")):  # type: ignore[arg-type]
            found = workspace.list_stacks()
        for summary in found:
            typer.echo(f"{summary.name}\tlast update: {summary.last_update or 'never'}\t"
                       f"resources: {summary.resource_count if summary.resource_count is not None else '-'}")
        if not found:
            typer.echo(f"no environments in {url}")
