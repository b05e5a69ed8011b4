"""The `lumabench` command: one sub-command per stage plus `classes` and `params`."""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import click
import yaml

from lumabench import classes as luma_classes
from lumabench.errors import InputError, LumabenchError, NotBuiltError, ParamsError
from lumabench.logs import setup_logging
from lumabench.params import Params, json_schema, load_params
from lumabench.paths import Paths
from lumabench.stages import BY_NAME, Opts, Stage

log = logging.getLogger("lumabench.cli")


@dataclass
class Context:
    """What every sub-command receives: params file, overrides, project root."""

    params_file: Path
    overrides: tuple[str, ...]
    debug: bool
    root: Path = field(default_factory=Path.cwd)

    def params(self) -> Params:
        return load_params(self.params_file, self.overrides)


class Interrupted(LumabenchError):
    """The stage was stopped by a signal; its temporaries are gone and no partial output is in place."""

    def __init__(self, signum: int) -> None:
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        super().__init__(
            f"interrupted by {name}; nothing of this run was put in place (its temporary files are removed)",
            fix="run the same command again",
        )
        self.exit_code = 128 + signum  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM


_HANDLER_PID: list[int] = []  # the process that installed `_on_sigterm` (forked workers inherit it)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Stop the stage the way Ctrl-C does: unwind (every `finally` removes its temporaries), one line.

    A second SIGTERM, while the first is unwinding, ends the process at once (the default action).
    A forked worker (an audio or annotate pool) inherits this handler; there SIGTERM keeps its
    default meaning, since that is how `Pool.terminate` stops its workers.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _HANDLER_PID and os.getpid() != _HANDLER_PID[-1]:
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Interrupted(signum)


class ErrorsAsOneLine(click.Group):
    """Turn every LumabenchError into one line on stderr and its exit code (traceback with --debug).

    SIGTERM (what Snakemake, SLURM and `kill` send) is handled like Ctrl-C: the stage unwinds,
    cleaning its temporaries, and prints one line; the exit code is 128 + the signal number.
    """

    def invoke(self, ctx: click.Context) -> Any:
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
        _HANDLER_PID.append(os.getpid())
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if "--debug" in sys.argv:
                raise
            self._fail(ctx, Interrupted(signal.SIGINT))
        except LumabenchError as exc:
            if "--debug" in sys.argv:
                raise
            self._fail(ctx, exc)
        finally:
            _HANDLER_PID.pop()
            if main_thread:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

    @staticmethod
    def _fail(ctx: click.Context, exc: LumabenchError) -> None:
        name = ctx.invoked_subcommand or "lumabench"
        click.echo(f"lumabench {name}: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)


@click.group(cls=ErrorsAsOneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--params",
    "params_file",
    default="params.yaml",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Parameters file.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a parameter (repeatable), e.g. --set profile=full --set train.lr=0.001.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(package_name="lumabench")
@click.pass_context
def main(ctx: click.Context, params_file: Path, overrides: tuple[str, ...], debug: bool) -> None:
    """lumabench: build the LUMA multimodal uncertainty benchmark and evaluate methods on it."""
    setup_logging(debug)
    ctx.obj = Context(params_file=params_file, overrides=overrides, debug=debug)


def run_stage(obj: Context, stage: Stage, **opts: str | int) -> None:
    """Validate params and inputs, then call the stage module's entry (`run`) with (params, paths, **opts)."""
    params = obj.params()
    paths = Paths(obj.root, params.profile)
    try:
        module = importlib.import_module(stage.module)
    except ModuleNotFoundError as exc:
        if exc.name and stage.module.startswith(exc.name):
            raise NotBuiltError("not built yet") from None
        raise
    entry = getattr(module, stage.entry, None)
    if entry is None:
        raise NotBuiltError("not built yet")
    for path in stage.inputs(paths, opts):
        if not path.exists():
            producer = _producer(path, paths, opts)
            raise InputError("missing input", path, f"run `lumabench {producer}` first (or `make run`)")
    entry(params, paths, **opts)


def _producer(path: Path, paths: Paths, opts: Opts) -> str:
    """The stage whose outputs contain `path` (or lie under it, for a directory input)."""
    full = {**_VM, **opts}
    for s in BY_NAME.values():
        outs = s.outputs(paths, full)
        if any(path == o or o in path.parents or path in o.parents for o in outs):
            return s.name
    return "the previous stage"


def _describe(stage: Stage, opts: Opts) -> str:
    p = Paths(Path("."), "<profile>")
    ins = ", ".join(str(x) for x in stage.inputs(p, opts)) or "(none)"
    outs = ", ".join(str(x) for x in stage.outputs(p, opts))
    gpu = " Uses a GPU when present (full profile)." if stage.gpu else ""
    return (
        f"{stage.summary}{gpu}\n\n\b\nInputs:  {ins}\nOutputs: {outs}\n"
        f"Params:  {', '.join(stage.sections)} (params.yaml)"
    )


_VM = {"variant": "<variant>", "method": "<method>", "seed": "<seed>"}


def _simple_stage(name: str) -> None:
    stage = BY_NAME[name]

    @main.command(name=name, help=_describe(stage, _VM))
    @click.pass_obj
    def cmd(obj: Context) -> None:
        run_stage(obj, BY_NAME[name])


for _name in ("audio", "text", "annotate", "features", "robustness", "report"):
    _simple_stage(_name)


@main.command(help=_describe(BY_NAME["corpora"], _VM))
@click.option(
    "--from",
    "import_from",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of archives fetched by hand (full profile); sets corpora.full.import_from.",
)
@click.pass_obj
def corpora(obj: Context, import_from: Path | None) -> None:
    if import_from is not None:
        # a JSON string is valid YAML, so the override stays a string whatever the folder is called
        value = json.dumps(str(import_from.resolve()))
        obj.overrides = (*obj.overrides, f"corpora.full.import_from={value}")
    run_stage(obj, BY_NAME["corpora"])


@main.command(help=_describe(BY_NAME["variants"], _VM))
@click.option("-v", "--variant", required=True, help="Variant name from params.yaml (e.g. clean, severity@3).")
@click.pass_obj
def variants(obj: Context, variant: str) -> None:
    obj.params().variants.resolve(variant)  # the name first: a typo must not read as "run corpora first"
    run_stage(obj, BY_NAME["variants"], variant=variant)


@main.command(help=_describe(BY_NAME["train"], _VM))
@click.option("-v", "--variant", required=True, help="Variant name from params.yaml.")
@click.option(
    "-m",
    "--method",
    "methods",
    multiple=True,
    help="Method name from params.yaml `methods` (repeatable); default: the grid's methods for the variant.",
)
@click.option(
    "-s",
    "--seed",
    "seeds",
    type=click.IntRange(min=0),
    multiple=True,
    help="Training seed (initialisation, data order; repeatable); default: every seed of params.yaml `run.seeds`.",
)
@click.pass_obj
def train(obj: Context, variant: str, methods: tuple[str, ...], seeds: tuple[int, ...]) -> None:
    params = obj.params()
    # a name params.yaml defines, checked before any path is built from it (a typo or `../x` is
    # refused here with suggestions, not reported as "run variants first")
    params.variants.resolve(variant)
    methods = methods or tuple(params.run.methods_for(variant))
    seeds = seeds or tuple(params.run.seeds)
    run_stage(obj, BY_NAME["train"], variant=variant, methods=methods, seeds=seeds)


@main.command(name="run", context_settings={"ignore_unknown_options": True})
@click.option("--cores", type=click.IntRange(min=1), default=None, help="CPU cores for Snakemake (default: all).")
@click.argument("snakemake_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run_cmd(obj: Context, cores: int | None, snakemake_args: tuple[str, ...]) -> None:
    """Run the whole pipeline (Snakemake) with one progress line per job and a time-left estimate.

    Further arguments go to snakemake, e.g. `lumabench run -- --forcerun report`. `make run` calls this.
    """
    from lumabench import pipeline

    params = obj.params()
    # Snakemake reads params.yaml itself: only the profile reaches it (as --config), so any other
    # override would be silently ignored by every stage
    ignored = [o for o in obj.overrides if o.partition("=")[0].strip() != "profile"]
    if ignored:
        raise ParamsError(
            f"`lumabench run` passes only --set profile=... to the pipeline, not {ignored[0]!r}",
            fix=f"put it in {obj.params_file} (e.g. `profiles.mini.run: {{}}` for the complete grid)",
        )
    # one training job per variant (`train_jobs: variant`): whether it evaluates its source's models
    jobs: dict[str, bool] = {}
    if params.run.train_jobs == "variant":
        jobs = {v: params.model_from(v) is not None for v in params.run.variants}
    code = pipeline.run(obj.root, params.profile, cores or os.cpu_count() or 1, list(snakemake_args), jobs)
    sys.exit(code)


@main.command(name="classes")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
def classes_cmd(fmt: str) -> None:
    """Print the 50 LUMA classes: id, name, split, CIFAR source."""
    sep = "," if fmt == "csv" else "\t"
    click.echo(sep.join(["id", "name", "split", "cifar_source"]))
    for c in luma_classes.CLASSES:
        src = "+".join(f"{d}:{n}" for d, n in c.cifar)
        click.echo(sep.join([str(c.id), c.name, c.split, src]))


@main.command(name="params")
@click.option("--schema", is_flag=True, help="Print the JSON schema of params.yaml instead.")
@click.option("--section", default=None, help="Print one section only (e.g. train).")
@click.pass_obj
def params_cmd(obj: Context, schema: bool, section: str | None) -> None:
    """Print the resolved, validated parameters (after --set overrides and the profile overlay)."""
    import json

    if schema:
        click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
        return
    data = obj.params().model_dump(mode="json")
    if section is not None:
        if section not in data:
            raise LumabenchError(f"unknown section {section!r}", fix=f"choose one of: {', '.join(data)}")
        data = {section: data[section]}
    click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


@main.command(name="label")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="Port on 127.0.0.1 (0: a free one)."
)
@click.option("--annotator", default=None, help="Name recorded with each decision (default: your login name).")
@click.option("--open", "open_page", is_flag=True, help="Also open the page in the default browser.")
@click.pass_obj
def label_cmd(obj: Context, port: int, annotator: str | None, open_page: bool) -> None:
    """Start the labelling page over the annotate stage's items (a tool, not a stage).

    \b
    Reads:  data/<profile>/raw/manifest.parquet, interim/audio/clips.parquet,
            interim/text/generated.parquet, interim/accepted/verdicts.parquet
    Writes: annotate.overrides (params.yaml; default annotations/<profile>.csv), at each decision
    Keys:   a accept, r reject, s skip, u undo, space play, n note (docs/labelling.md)
    Then `lumabench annotate` (or make run / dvc repro) applies the decisions.
    """
    from lumabench import label

    params = obj.params()
    paths = Paths(obj.root, params.profile)
    try:
        label.serve(params, paths, port=port, annotator=annotator, open_page=open_page)
    except (KeyboardInterrupt, Interrupted):
        click.echo(f"lumabench label: stopped; every decision is in {label.overrides_path(params, paths)}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
