"""Errors a person can act on: each message says what happened and what to do."""

from __future__ import annotations


class ParaSightError(Exception):
    """Base class. ``str(err)`` is a sentence fit to show a user."""


class InputError(ParaSightError, ValueError):
    """A request or argument the user can correct (empty prompt, steps out of range...)."""


class PredictionUnknownError(InputError):
    """An SD 2.x file that does not say whether its UNet predicts noise or velocity: the
    user can say it (``--prediction epsilon``; the Import dialog's "Predicts noise")."""


class ModelError(ParaSightError):
    """A model that is missing, damaged or malformed. Names the file at fault."""


class CancelledError(ParaSightError):
    """The user cancelled a generation; nothing was written."""
