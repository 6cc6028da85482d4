"""Settings at hand: model, seed (dice and lock), steps, guidance, sampler, fast decode, reset."""

from __future__ import annotations

import secrets

from PySide6.QtCore import QPointF, QRectF, QRegularExpression, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ..engine.schedulers import SCHEDULERS
from ..engine.store import ModelInfo
from ..engine.types import MAX_GUIDANCE, MAX_SEED, MAX_STEPS, MIN_STEPS, SAMPLERS
from .signals import emit

FAST_DECODE_TIP = (
    "Decode with TAESD, a 1.2M-parameter decoder: a fraction of a second instead of "
    "seconds, with slightly softer detail."
)
LCM_NOTE = "{sampler} ignores guidance (no unconditional pass)."
EMBEDDED_NOTE = ("This model takes guidance as an input of its UNet: it steers without an "
                 "unconditional pass.")
NO_UNCOND_NOTE = (
    "At 1 or below: no unconditional pass, so each step takes about half the time "
    "and the description steers less."
)


def uses_guidance(sampler_id: str) -> bool:
    """Whether the sampler mixes in an unconditional pass (the engine's own answer)."""
    cls = SCHEDULERS.get(sampler_id)
    return cls.uses_guidance if cls is not None else True


def guidance_note(sampler_id: str, guidance: float, embedded: bool = False) -> str:
    """What the guidance value does with this sampler (and a model that takes guidance as
    an input, ``embedded``), where it is not the usual; else ""."""
    if embedded:
        return EMBEDDED_NOTE
    if not uses_guidance(sampler_id):
        return LCM_NOTE.format(sampler=SAMPLERS.get(sampler_id, sampler_id))
    if guidance <= 1.0:
        return NO_UNCOND_NOTE
    return ""


def no_fast_decoder_tip(info: ModelInfo | None) -> str:
    if info is None:
        return "No model is chosen."
    return (f"{info.display_name} has no fast decoder. Add TAESD to it with: "
            f"parasight models add-taesd {info.name} --decoder taesd_decoder.safetensors")


def random_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


def dice_icon(palette: QPalette, size: int = 32) -> QIcon:
    """A die showing five, in the palette's text colour (reads on light and dark)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    ink = palette.color(QPalette.ColorRole.ButtonText)
    pen = p.pen()
    pen.setColor(ink)
    pen.setWidthF(size / 14)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    m = size * 0.12
    p.drawRoundedRect(QRectF(m, m, size - 2 * m, size - 2 * m), size * 0.18, size * 0.18)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(ink))
    r = size * 0.07
    for fx, fy in ((0.32, 0.32), (0.68, 0.32), (0.5, 0.5), (0.32, 0.68), (0.68, 0.68)):
        p.drawEllipse(QPointF(size * fx, size * fy), r, r)
    p.end()
    return QIcon(pixmap)


class GenerationControls(QGroupBox):
    """The knobs of a generation, each with the chosen model's default one click away."""

    model_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Settings", parent)
        self._models: dict[str, ModelInfo] = {}

        self.model = QComboBox()
        self.model.setObjectName("model")
        self.model.setAccessibleName("Model")
        self.model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model.setMinimumContentsLength(16)
        self.model.currentIndexChanged.connect(self._on_model_index)

        self.seed = QLineEdit()
        self.seed.setObjectName("seed")
        self.seed.setAccessibleName("Seed")
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,10}")))
        self.seed.setToolTip("The same seed and settings make the same image.")
        self.dice = QToolButton()
        self.dice.setObjectName("dice")
        self.dice.setIcon(dice_icon(self.palette()))
        self.dice.setToolTip("Roll a new random seed")
        self.dice.setAccessibleName("Roll a new random seed")
        self.dice.clicked.connect(self.roll_seed)
        self.lock = QCheckBox("L&ock")
        self.lock.setObjectName("seedLock")
        self.lock.setToolTip(
            "Locked: every image uses this seed. Unlocked: each image gets a new random seed."
        )
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice)
        seed_row.addWidget(self.lock)

        self.steps = QSpinBox()
        self.steps.setObjectName("steps")
        self.steps.setRange(MIN_STEPS, MAX_STEPS)
        self.steps.setToolTip("More steps: more detail, more time.")
        self.guidance = QDoubleSpinBox()
        self.guidance.setObjectName("guidance")
        self.guidance.setRange(0.0, MAX_GUIDANCE)
        self.guidance.setSingleStep(0.5)
        self.guidance.setDecimals(1)
        self.guidance.setToolTip("How closely the image follows the description.")
        self.sampler = QComboBox()
        self.sampler.setObjectName("sampler")
        for sampler_id, label in SAMPLERS.items():
            self.sampler.addItem(label, sampler_id)
        self.guidance_note = QLabel()
        self.guidance_note.setObjectName("guidanceNote")
        self.guidance_note.setWordWrap(True)
        self.guidance_note.hide()
        self.guidance.valueChanged.connect(self._update_guidance_note)
        self.sampler.currentIndexChanged.connect(self._update_guidance_note)

        self.fast_decode = QCheckBox("Fast decode (&TAESD)")
        self.fast_decode.setObjectName("fastDecode")

        self.reset = QPushButton("&Reset")
        self.reset.setObjectName("resetDefaults")
        self.reset.setToolTip(
            "Steps, guidance, sampler and fast decode back to the model's defaults")
        self.reset.clicked.connect(self.apply_model_defaults)

        grid = QGridLayout(self)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        for row, col, caption, field in (
            (0, 0, "&Model:", self.model),
            (1, 0, "S&eed:", self.seed),
            (2, 0, "&Steps:", self.steps),
            (2, 2, "&Guidance:", self.guidance),
            (4, 0, "S&ampler:", self.sampler),
        ):
            buddy_label = QLabel(caption)
            buddy_label.setBuddy(field)
            grid.addWidget(buddy_label, row, col)
        grid.addWidget(self.model, 0, 1, 1, 3)
        grid.addLayout(seed_row, 1, 1, 1, 3)
        grid.addWidget(self.steps, 2, 1)
        grid.addWidget(self.guidance, 2, 3)
        grid.addWidget(self.guidance_note, 3, 0, 1, 4)
        grid.addWidget(self.sampler, 4, 1)
        grid.addWidget(self.reset, 4, 2, 1, 2)
        grid.addWidget(self.fast_decode, 5, 1, 1, 3)
        self._update_fast_decode()
        self._update_guidance_note()

    # -- models --------------------------------------------------------------------

    def set_models(self, models: list[ModelInfo], current: str | None = None) -> None:
        self._models = {m.name: m for m in models}
        self.model.blockSignals(True)
        self.model.clear()
        for info in models:
            self.model.addItem(f"{info.display_name} ({info.width}\u00d7{info.height})", info.name)
            self.model.setItemData(
                self.model.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole
            )
        if not models:
            self.model.addItem("No model installed", "")
        index = self.model.findData(current) if current else -1
        self.model.setCurrentIndex(max(index, 0))
        self.model.setEnabled(bool(models))
        self.model.blockSignals(False)
        self._update_fast_decode()  # the chosen model may have gained or lost its decoder

    def model_name(self) -> str:
        return str(self.model.currentData() or "")

    def model_info(self) -> ModelInfo | None:
        return self._models.get(self.model_name())

    def select_model(self, name: str) -> bool:
        index = self.model.findData(name)
        if index < 0:
            return False
        self.model.setCurrentIndex(index)
        return True

    def _on_model_index(self, _index: int) -> None:
        self.apply_model_defaults()
        emit(self.model_changed, self.model_name())

    def apply_model_defaults(self) -> None:
        """Steps, guidance, sampler and fast decode back to what the chosen model recommends."""
        info = self.model_info()
        self._update_fast_decode()
        if info is None:
            return
        self.steps.setValue(info.defaults.steps)
        self.guidance.setValue(info.defaults.guidance)
        self.set_sampler(info.defaults.sampler)
        self.set_fast_decode(info.defaults.fast_decode)
        self._update_guidance_note()  # the note also depends on the model

    # -- fast decode ---------------------------------------------------------------

    def has_fast_decoder(self) -> bool:
        info = self.model_info()
        return info is not None and bool(info.fast_decoder)

    def _update_fast_decode(self) -> None:
        """The box is open only where the chosen model has a fast decoder."""
        available = self.has_fast_decoder()
        self.fast_decode.setEnabled(available)
        if not available:
            self.fast_decode.setChecked(False)
        self.fast_decode.setToolTip(
            FAST_DECODE_TIP if available else no_fast_decoder_tip(self.model_info()))

    def set_fast_decode(self, on: bool) -> bool:
        """Check or uncheck the box; False if asked for it where the model has no decoder."""
        available = self.has_fast_decoder()
        self.fast_decode.setChecked(on and available)
        return available or not on

    def fast_decode_value(self) -> bool:
        """What the request asks for: the fast decoder, only where the model has one."""
        return self.fast_decode.isChecked() and self.fast_decode.isEnabled()

    # -- guidance ------------------------------------------------------------------

    def _update_guidance_note(self) -> None:
        info = self.model_info()
        note = guidance_note(self.sampler_id(), self.guidance.value(),
                             embedded=info is not None and info.guidance_embedding)
        self.guidance_note.setText(note)
        self.guidance_note.setVisible(bool(note))
        self.guidance.setAccessibleDescription(note)

    # -- seed ----------------------------------------------------------------------

    def roll_seed(self) -> int:
        seed = random_seed()
        self.seed.setText(str(seed))
        return seed

    def seed_value(self) -> int | None:
        text = self.seed.text().strip()
        if not text:
            return None
        value = int(text)
        return value if 0 <= value <= MAX_SEED else None

    def seed_for_next_image(self) -> int:
        """The locked seed, or a fresh one (shown in the field) when unlocked or empty."""
        seed = self.seed_value()
        if not self.lock.isChecked() or seed is None:
            seed = self.roll_seed()
        return seed

    def set_seed(self, seed: int, lock: bool | None = None) -> None:
        self.seed.setText(str(seed))
        if lock is not None:
            self.lock.setChecked(lock)

    # -- sampler -------------------------------------------------------------------

    def sampler_id(self) -> str:
        return str(self.sampler.currentData())

    def set_sampler(self, sampler_id: str) -> bool:
        index = self.sampler.findData(sampler_id)
        if index < 0:
            return False
        self.sampler.setCurrentIndex(index)
        return True
