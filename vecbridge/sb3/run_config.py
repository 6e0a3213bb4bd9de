"""A training run's ``config.json``: what ``vecbridge train`` writes, and reads back on ``--resume``.

Everything that made the run (game, instances, seed, PPO settings, preprocessing, torch's
threads, what it was resumed from) as plain JSON, so that ``vecbridge eval`` and a resumed
run rebuild the same setup.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from vecbridge.errors import UsageError


def saved_config(path: Path) -> dict[str, Any]:
    """A run's config.json, or {} when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: classes and callables by name, anything else by repr."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): jsonable(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [jsonable(v) for v in value]
        return getattr(value, "__name__", None) or repr(value)


def current_torch_threads() -> int:
    """The threads torch uses now (recorded: they decide the speed of a CPU run)."""
    import torch

    return torch.get_num_threads()


def write_config(path: Path, *, resume: Any, **values: Any) -> None:
    """Write (or update, on a resumed run) config.json; a resumed run keeps its history."""
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            data = {}
    history = list(data.get("resumed_from", []))
    if resume is not None:
        history.append(str(resume))
        values["ppo"] = {**data.get("ppo", {}), **values["ppo"]}  # schedules of the original run stay recorded
    data.update({k: jsonable(v) for k, v in values.items()})
    data["game"] = values["game"] if isinstance(values["game"], str) else repr(values["game"])
    if history:
        data["resumed_from"] = history
    data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def check_run_dir(run: Path, resumed_run: Path | None) -> None:
    """Refuse a run folder that holds another run: two runs in one would mix their progress rows
    (a learning curve that runs back) and the second would replace the first's model."""
    held = [name for name in ("config.json", "progress.csv", "model.zip") if (run / name).exists()]
    if held and (resumed_run is None or run.resolve() != resumed_run.resolve()):
        raise UsageError(f"vecbridge train: --run-dir {run} already holds a run ({', '.join(held)}); continue it with "
                         f"--resume {run / 'model.zip'}, or give another --run-dir")  # fmt: skip


def run_config_for(model: str | Path | None, game: str, out: Any) -> dict[str, Any]:
    """The config.json of the run a model belongs to (game options, time limit, preprocessing), if
    that run trained on ``game`` (a note on ``out`` says when it did not)."""
    from vecbridge.sb3.common import run_dir_of

    folder = run_dir_of(model) if model else None
    config = saved_config(folder / "config.json") if folder is not None else {}
    if config and config.get("game") != game:
        print(f"note: the model was trained on {config.get('game')}, evaluating on {game} (without the training "
              f"run's game options, time limit and preprocessing)", file=out)  # fmt: skip
        return {}
    return config


def has_run_config(model: str | Path | None) -> bool:
    """Whether a config.json of a run is beside ``model`` (whichever game it names)."""
    from vecbridge.sb3.common import run_dir_of

    folder = run_dir_of(model) if model else None
    return folder is not None and (folder / "config.json").is_file()
