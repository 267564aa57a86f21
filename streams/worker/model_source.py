"""The worker's value model, re-read when its file changes (the periodic refit).

`tierstream clv fit` replaces the model file (k8s: the refit CronJob, k8s/base); the ranking
stage asks `current()` before each measurements item and hands a new model to the rankers,
so it applies from the next boundary on. `current()` looks at the file at most every
`check_seconds` (a `stat`, no read unless it changed). A file that has changed is read and
validated; if it cannot be read or a field is invalid, the error is logged with the field
name and the model in use is kept (the next change of the file is tried again).

What identifies "changed": the file's (inode, size, mtime in ns) as `os.stat` sees it through
symlinks, so an atomic rename (what `clv fit --out` does) and a ConfigMap's symlink swap both
count. The model's own identity is `model_version` (calibration end and content hash): a file
rewritten with the same content changes nothing downstream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from streams.settings import Settings
from tiering.value import ModelFileError, ValueModel, load_model, model_version

__all__ = ["ModelSource", "value_models_of"]

log = logging.getLogger("tierstream.worker")

_Stamp = tuple[int, int, int]


def _stamp(path: Path) -> _Stamp | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


class ModelSource:
    """The latest valid value model in one file."""

    def __init__(
        self,
        path: Path,
        check_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Reads the file now: `ModelFileError` if it is not a valid model (start-up fails).
        `monotonic`: seconds on a clock that never goes back (injected by tests)."""
        self._path = path
        self._check_seconds = check_seconds
        self._monotonic = monotonic
        self._stamp = _stamp(path)
        self._model = load_model(path)
        self.version = model_version(self._model)
        self._checked_at = monotonic()
        # Attempts to load a changed file, by outcome ("loaded", "rejected"), for metrics.
        self.reloads: dict[str, int] = {"loaded": 0, "rejected": 0}

    def current(self) -> ValueModel:
        """The model to classify with now: the file's, if it changed into a valid model since
        the last look (at most one look per `check_seconds`), else the one in use."""
        now = self._monotonic()
        if now - self._checked_at < self._check_seconds:
            return self._model
        self._checked_at = now
        stamp = _stamp(self._path)
        if stamp is None or stamp == self._stamp:
            # A missing file (mid-replacement, or a volume hiccup) keeps the model in use.
            return self._model
        self._stamp = stamp
        try:
            model = load_model(self._path)
        except ModelFileError as error:
            self.reloads["rejected"] += 1
            # The message names the file and the first bad field; no values of the file.
            log.error("value model not reloaded, keeping %s: %s", self.version, error)
            return self._model
        self.reloads["loaded"] += 1
        version = model_version(model)
        if version != self.version:
            log.info("value model %s replaces %s", version, self.version)
        self._model = model
        self.version = version
        return self._model


def value_models_of(settings: Settings) -> ModelSource | None:
    """The file `TIERSTREAM_CLV_MODEL` names (validated by `load_settings`), watched every
    `TIERSTREAM_CLV_MODEL_CHECK_SECONDS`; None without one."""
    if settings.clv_model is None:
        return None
    return ModelSource(settings.clv_model, settings.clv_model_check_seconds)
