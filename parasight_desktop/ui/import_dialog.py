"""The "Bring your own model" dialog: a Stable Diffusion 1.x / 2.x checkpoint, its VAE and
LoRAs, checked as they are chosen; what kind of model it is (ordinary, LCM, SD-Turbo) and
whether TAESD is added as its fast decoder.

Every change of the files asks :func:`engine.sd_import.inspect_checkpoint` again (headers
only, quick), so a refusal (a pickle, SDXL, an inpainting model, a LoRA made for another
model) is shown at once as the engine's sentence, and Import stays off until the files
can be imported. A LoRA is hashed once, when it is added (off the GUI thread: a 135 MB
file takes 0.1 s from the cache and longer from a cold disk), so that the LCM-LoRA sets
the kind to LCM by itself. The dialog only gathers an :class:`ImportRequest`; the Models
dialog runs it on its models thread.
"""

from __future__ import annotations

import functools
import html
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..engine import catalog, sd_import
from ..engine.download import format_bytes
from ..engine.errors import InputError, PredictionUnknownError
from ..engine.fileio import sha256_file
from ..engine.sd_convert import SD_DEFAULTS
from ..engine.sd_import import (
    FEW_STEP_DEFAULTS,
    ImportPlan,
    LoraSpec,
    check_model_name,
    inspect_checkpoint,
    suggest_name,
)
from ..engine.store import user_models_dir

ERROR_STYLE = ("background: rgba(220, 50, 47, 40); border: 1px solid rgb(220, 50, 47); "
               "border-radius: 3px; padding: 6px;")
SAFETENSORS_FILTER = "Safetensors files (*.safetensors);;All files (*)"
LORA_STRENGTH = (-2.0, 2.0, 0.05)  # minimum, maximum, step
#: The model kinds offered, as ``import_checkpoint(few_step=...)`` takes them.
KINDS: tuple[tuple[str | None, str], ...] = (
    (None, "Ordinary (many steps)"),
    ("lcm", "LCM (4 steps, e.g. with the LCM-LoRA)"),
    ("turbo", "SD-Turbo (1 step)"),
)
TAESD_TIP = ("TAESD, a tiny stand-in for the image decoder: a 512x512 image decodes in about "
             "0.3 s instead of several seconds, and every step can show a decoded preview. "
             "Slightly softer; the full decoder stays in the model too.")
_HASH_POLL_MS = 30
# One thread hashes LoRAs for every import dialog: a LoRA is read once, when it is added.
_hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parasight-lora-hash")


def describe_defaults(kind: str | None) -> str:
    """``4 steps, guidance 1, the lcm sampler``: the settings a model of ``kind`` starts
    with (``None``: an ordinary model)."""
    d = FEW_STEP_DEFAULTS[kind] if kind else SD_DEFAULTS
    steps = d["steps"]
    return (f"{steps} step{'s' if steps != 1 else ''}, guidance {d['guidance']:g}, "
            f"the {d['sampler']} sampler")


@dataclass(frozen=True)
class ImportRequest:
    """What the person chose: everything :func:`engine.sd_import.import_checkpoint` needs."""

    source: Path
    name: str
    precision: str
    vae: Path | None
    loras: tuple[LoraSpec, ...]
    prediction: str | None
    plan: ImportPlan
    few_step: str | None = None  # "lcm" or "turbo": the model's default settings
    taesd: Path | None = None  # TAESD's decoder file, added as the fast decoder

    @property
    def display_name(self) -> str:
        """``my-model + detail-lora (int8)``: what the model list shows."""
        stem = self.source.name.removesuffix(".safetensors")
        loras = "".join(f" + {spec.name}" for spec in self.loras)
        return f"{stem}{loras} ({self.precision})"


def usable_name(name: str) -> bool:
    """Letters, digits, '-', '_' and '.', as ``parasight models import --name`` takes."""
    try:
        check_model_name(name)
    except InputError:
        return False
    return True


def describe_plan(plan: ImportPlan) -> str:
    """``Stable Diffusion 1.x · single file (LDM layout) · 860M parameters``, as HTML."""
    millions = plan.params / 1e6
    size = f"{millions:.0f}M" if millions >= 10 else f"{millions:.1f}M"
    layout = ("a single file (LDM layout)" if plan.layout == "ldm"
              else "a diffusers folder")
    parts = [f"<b>{html.escape(plan.family_label)}</b>", layout, f"{size} parameters"]
    if plan.has_ema:
        parts.append("EMA copies ignored")
    if plan.prediction == "epsilon":
        parts.append("predicts noise")
    return " \u00b7 ".join(parts)


class ImportModelDialog(QDialog):
    """Choose a checkpoint (file or diffusers folder), a VAE, LoRAs, a precision and a name.

    ``tradeoffs``: each precision's trade-offs, as the Models dialog states them.
    ``blocker``: why this installation cannot convert (shown, and Import stays off), or "".
    """

    def __init__(self, tradeoffs: dict[str, str], source: Path | None = None, *,
                 default_precision: str = "int8", blocker: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a model")
        self.setObjectName("importModelDialog")
        self.blocker = blocker
        self.plan: ImportPlan | None = None
        self.error = ""
        self._source: Path | None = None
        self._vae: Path | None = None
        self._loras: list[tuple[Path, QDoubleSpinBox]] = []
        self._hashes: dict[Path, Future[str]] = {}  # each LoRA's sha256, as it is read
        self._kind_from_lora = False  # the kind was set by a LoRA, not by the person
        self._name_edited = False
        self._taesd: Path | None = catalog.downloaded_path("taesd", "decoder")
        self._hash_timer = QTimer(self)
        self._hash_timer.setInterval(_HASH_POLL_MS)
        self._hash_timer.timeout.connect(self._check_hashes)
        self._build(tradeoffs, default_precision)
        self.resize(720, 720)  # room for the wrapped trade-offs and notes, which a
        # height-for-width layout would otherwise squeeze at the dialog's first size
        if source is not None:
            self.set_source(source)
        else:
            self._inspect()

    # ================================================================ building

    def _build(self, tradeoffs: dict[str, str], default_precision: str) -> None:
        intro = QLabel("A Stable Diffusion 1.x or 2.x checkpoint (a .safetensors file or a "
                       "diffusers folder) is converted for ParaSight on this computer. The "
                       "files are only read.")
        intro.setWordWrap(True)

        # 1. The checkpoint, what it is, or why it cannot be imported.
        self.source_edit = self._path_edit("importSource", "no checkpoint chosen")
        file_button = QPushButton("File\u2026")
        file_button.setObjectName("chooseSourceFile")
        file_button.setToolTip("Choose a .safetensors checkpoint")
        file_button.clicked.connect(self.choose_source_file)
        folder_button = QPushButton("Folder\u2026")
        folder_button.setObjectName("chooseSourceFolder")
        folder_button.setToolTip("Choose a diffusers folder (with unet/, vae/, text_encoder/)")
        folder_button.clicked.connect(self.choose_source_folder)
        self.vae_edit = self._path_edit("importVae", "the checkpoint's own")
        vae_button = QPushButton("Choose\u2026")
        vae_button.setObjectName("chooseVae")
        vae_button.clicked.connect(self.choose_vae)
        self.clear_vae_button = QPushButton("Clear")
        self.clear_vae_button.setObjectName("clearVae")
        self.clear_vae_button.clicked.connect(lambda: self.set_vae(None))
        self.plan_label = QLabel()
        self.plan_label.setObjectName("importPlan")
        self.plan_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setObjectName("importError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        self.noise_box = QCheckBox("Predicts noise (SD 2.1-base, SD-Turbo)")
        self.noise_box.setObjectName("predictsNoise")
        self.noise_box.setToolTip("Only for 512-pixel SD 2.x models: the 768-pixel ones "
                                  "predict velocity, which ParaSight cannot run yet")
        self.noise_box.toggled.connect(lambda *_: self._inspect())
        self.noise_box.hide()
        form = QFormLayout()
        form.addRow("Checkpoint:", self._row(self.source_edit, file_button, folder_button))
        form.addRow("", self.plan_label)
        form.addRow("VAE (optional):", self._row(self.vae_edit, vae_button,
                                                 self.clear_vae_button))

        # 2. LoRAs, each with its strength.
        lora_box = QGroupBox("LoRAs (optional), merged into the model")
        self.lora_table = QTableWidget(0, 3)
        self.lora_table.setObjectName("loraTable")
        self.lora_table.setHorizontalHeaderLabels(["LoRA", "Changes", "Strength"])
        self.lora_table.verticalHeader().hide()
        self.lora_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.lora_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.lora_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.lora_table.setMinimumHeight(90)
        self.lora_table.setMaximumHeight(140)
        self.lora_table.itemSelectionChanged.connect(self._update)
        add = QPushButton("Add LoRA\u2026")
        add.setObjectName("addLora")
        add.clicked.connect(self.choose_lora)
        self.remove_lora_button = QPushButton("Remove")
        self.remove_lora_button.setObjectName("removeLora")
        self.remove_lora_button.clicked.connect(self.remove_selected_lora)
        lora_buttons = QHBoxLayout()
        lora_buttons.addWidget(add)
        lora_buttons.addWidget(self.remove_lora_button)
        lora_buttons.addStretch(1)
        lora_layout = QVBoxLayout(lora_box)
        lora_layout.addWidget(self.lora_table)
        lora_layout.addLayout(lora_buttons)

        # 3. Precision (with its trade-offs) and the name it installs as.
        out_box = QGroupBox("Convert for ParaSight (TensorFlow Lite)")
        self.precision_group = QButtonGroup(self)
        self.precision_buttons: dict[str, QRadioButton] = {}
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        for i, (precision, text) in enumerate(tradeoffs.items()):
            button = QRadioButton(precision)
            button.setObjectName(f"import_precision_{precision}")
            self.precision_group.addButton(button, i)
            self.precision_buttons[precision] = button
            tradeoff = QLabel(text)
            tradeoff.setWordWrap(True)
            tradeoff.setBuddy(button)
            grid.addWidget(button, i, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(tradeoff, i, 1)
        self.precision_buttons.get(default_precision,
                                   next(iter(self.precision_buttons.values()))).setChecked(True)
        self.precision_group.idToggled.connect(lambda *_: self._update())
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("importName")
        self.name_edit.textEdited.connect(self._on_name_edited)
        self.name_note = QLabel()
        self.name_note.setObjectName("importNameNote")
        self.name_note.setWordWrap(True)
        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Install as:"))
        name_row.addWidget(self.name_edit, 1)

        # 4. What kind of model it is (its default settings), and the fast decoder.
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("importKind")
        self.kind_combo.setAccessibleName("Model kind")
        for kind, text in KINDS:
            self.kind_combo.addItem(text, kind)
        self.kind_combo.activated.connect(self._on_kind_chosen)
        self.kind_note = QLabel()
        self.kind_note.setObjectName("importKindNote")
        self.kind_note.setWordWrap(True)
        kind_row = QHBoxLayout()
        kind_label = QLabel("Model &kind:")
        kind_label.setBuddy(self.kind_combo)
        kind_row.addWidget(kind_label)
        kind_row.addWidget(self.kind_combo, 1)
        self.taesd_box = QCheckBox("Add TAESD (fast decoder)")
        self.taesd_box.setObjectName("addTaesd")
        self.taesd_box.setToolTip(TAESD_TIP)
        self.taesd_box.setEnabled(self._taesd is not None)
        self.taesd_box.setChecked(self._taesd is not None)
        self.taesd_box.toggled.connect(lambda *_: self._update())
        self.taesd_button = QPushButton("Choose file\u2026")
        self.taesd_button.setObjectName("chooseTaesd")
        self.taesd_button.setToolTip("Choose a taesd_decoder.safetensors (its encoder is "
                                     "taken from beside it if it is there)")
        self.taesd_button.clicked.connect(self.choose_taesd)
        self.taesd_note = QLabel()
        self.taesd_note.setObjectName("importTaesdNote")
        self.taesd_note.setWordWrap(True)
        taesd_row = QHBoxLayout()
        taesd_row.addWidget(self.taesd_box)
        taesd_row.addWidget(self.taesd_button)
        taesd_row.addStretch(1)

        out_layout = QVBoxLayout(out_box)
        out_layout.addLayout(kind_row)
        out_layout.addWidget(self.kind_note)
        out_layout.addLayout(taesd_row)
        out_layout.addWidget(self.taesd_note)
        out_layout.addWidget(QLabel("Precision:"))
        out_layout.addLayout(grid)
        out_layout.addLayout(name_row)
        out_layout.addWidget(self.name_note)

        self.blocker_label = QLabel(self.blocker)
        self.blocker_label.setObjectName("importBlocker")
        self.blocker_label.setWordWrap(True)
        self.blocker_label.setStyleSheet(ERROR_STYLE)
        self.blocker_label.setVisible(bool(self.blocker))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.import_button.setText("&Import")
        self.import_button.setObjectName("importModelButton")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.noise_box)
        layout.addWidget(self.error_label)
        layout.addWidget(lora_box, 1)  # any spare height goes to the list of LoRAs
        layout.addWidget(out_box)
        layout.addWidget(self.blocker_label)
        layout.addWidget(self.buttons)

    @staticmethod
    def _path_edit(object_name: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(object_name)
        edit.setReadOnly(True)  # set through the pickers, so every change is inspected
        edit.setPlaceholderText(placeholder)
        return edit

    @staticmethod
    def _row(*widgets: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        for i, widget in enumerate(widgets):
            row.addWidget(widget, 1 if i == 0 else 0)
        return row

    # ================================================================ the choices

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def vae(self) -> Path | None:
        return self._vae

    def loras(self) -> tuple[LoraSpec, ...]:
        return tuple(LoraSpec(path, round(spin.value(), 2)) for path, spin in self._loras)

    def precision(self) -> str:
        button = self.precision_group.checkedButton()
        return button.text() if button is not None else "int8"

    def name(self) -> str:
        return self.name_edit.text().strip()

    def few_step(self) -> str | None:
        """The kind chosen, as ``import_checkpoint(few_step=...)`` takes it."""
        kind = self.kind_combo.currentData()
        return str(kind) if kind else None

    def set_few_step(self, kind: str | None) -> None:
        """Choose the kind as the person would."""
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
        self._on_kind_chosen()

    def taesd(self) -> Path | None:
        """TAESD's decoder file when it is to be added, else None."""
        return self._taesd if self.taesd_box.isChecked() else None

    def set_taesd(self, path: Path) -> None:
        """Use ``path`` as TAESD's decoder (and add it)."""
        self._taesd = Path(path)
        self.taesd_box.setEnabled(True)
        self.taesd_box.setChecked(True)
        self._update()

    def hashing(self) -> bool:
        """Whether a LoRA added is still being read (the kind may yet change)."""
        return any(not f.done() for f in self._hashes.values())

    def request(self) -> ImportRequest | None:
        """The import as chosen, or None while it cannot be imported."""
        source, name = self._source, self.name()
        if self.plan is None or source is None or not usable_name(name):
            return None
        return ImportRequest(source, name, self.precision(), self._vae, self.loras(),
                             self.plan.prediction, self.plan, self.few_step(), self.taesd())

    def set_source(self, path: Path) -> None:
        """A new checkpoint: its name suggested (unless typed), its prediction asked anew."""
        self._source = Path(path)
        self.source_edit.setText(str(self._source))
        self.source_edit.setToolTip(str(self._source))
        if not self._name_edited:
            self.name_edit.setText(suggest_name(self._source))
        self.noise_box.blockSignals(True)
        self.noise_box.setChecked(False)
        self.noise_box.blockSignals(False)
        self._inspect()

    def set_vae(self, path: Path | None) -> None:
        self._vae = Path(path) if path is not None else None
        self.vae_edit.setText(str(self._vae) if self._vae is not None else "")
        self._inspect()

    def add_lora(self, path: Path, strength: float = 1.0) -> QDoubleSpinBox:
        """Add a LoRA row; returns its strength box."""
        lo, hi, step = LORA_STRENGTH
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setSingleStep(step)
        spin.setDecimals(2)
        spin.setValue(strength)
        spin.setAccessibleName(f"Strength of {Path(path).stem}")
        spin.setToolTip("1 merges the LoRA as made; 0 leaves it out; negative values "
                        "push the other way")
        row = self.lora_table.rowCount()
        self.lora_table.insertRow(row)
        self.lora_table.setCellWidget(row, 2, spin)
        self._loras.append((Path(path), spin))
        if Path(path) not in self._hashes:
            self._hashes[Path(path)] = _hasher.submit(sha256_file, Path(path))
            self._hash_timer.start()
        self._inspect()
        self.lora_table.selectRow(row)  # what Remove takes away
        return spin

    def remove_lora(self, index: int) -> None:
        if 0 <= index < len(self._loras):
            del self._loras[index]
            self.lora_table.removeRow(index)
            self._inspect()

    def remove_selected_lora(self) -> None:
        for row in sorted({i.row() for i in self.lora_table.selectedIndexes()}, reverse=True):
            self.remove_lora(row)

    # ================================================================ pickers

    def _start_dir(self) -> str:
        return str(self._source.parent) if self._source is not None else str(Path.home())

    def choose_source_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a checkpoint", self._start_dir(),
                                              SAFETENSORS_FILTER)
        if path:
            self.set_source(Path(path))

    def choose_source_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a diffusers folder",
                                                self._start_dir())
        if path:
            self.set_source(Path(path))

    def choose_vae(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a VAE", self._start_dir(),
                                              SAFETENSORS_FILTER)
        if path:
            self.set_vae(Path(path))

    def choose_taesd(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose TAESD's decoder", self._start_dir(),
                                              "TAESD decoder (taesd_decoder.safetensors);;"
                                              + SAFETENSORS_FILTER)
        if path:
            self.set_taesd(Path(path))

    def choose_lora(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Choose LoRAs", self._start_dir(),
                                                SAFETENSORS_FILTER)
        for path in paths:
            self.add_lora(Path(path))

    # ================================================================ checking

    def _inspect(self) -> None:
        """Ask the engine what these files would make, or why they cannot be imported."""
        self.plan, self.error = None, ""
        asks_prediction = False
        if self._source is not None:
            specs = self.loras()
            call = functools.partial(inspect_checkpoint, self._source, vae=self._vae,
                                     loras=specs)
            try:
                self.plan = call()
            except InputError as err:
                self.error = str(err)
                if isinstance(err, PredictionUnknownError):
                    asks_prediction = True
                    if self.noise_box.isChecked():
                        try:
                            self.plan, self.error = call(prediction="epsilon"), ""
                        except InputError as again:
                            self.error = str(again)
        self.noise_box.setVisible(asks_prediction)
        self._show_loras()
        self._update_kind()
        self._update()

    def _show_loras(self) -> None:
        """Each LoRA's name, and how many of the model's weights it changes once it fits."""
        changes = {spec.path: n for spec, n in self.plan.loras} if self.plan else {}
        for row, (path, _) in enumerate(self._loras):
            name = self.lora_table.item(row, 0)
            if name is None:
                self.lora_table.setItem(row, 0, name := _item(path.name))
            name.setToolTip(str(path))
            n = changes.get(path)
            changed = "?" if n is None else f"{n} weight{'s' if n != 1 else ''}"
            self.lora_table.setItem(row, 1, _item(changed))

    def _few_step_lora(self) -> str | None:
        """The kind a LoRA now in the list makes (the LCM-LoRA: "lcm"), once it is hashed."""
        for path, _ in self._loras:
            future = self._hashes.get(path)
            if future is not None and future.done() and future.exception() is None:
                kind = sd_import.FEW_STEP_LORAS.get(future.result())
                if kind:
                    return kind
        return None

    def _check_hashes(self) -> None:
        if not self.hashing():
            self._hash_timer.stop()
            self._update_kind()
            self._update()

    def _on_kind_chosen(self, *_: object) -> None:
        self._kind_from_lora = False
        self._update_kind()
        self._update()

    def _update_kind(self) -> None:
        """Offer the kinds this model can be, choose one where the files say which."""
        family = self.plan.family if self.plan is not None else None
        model = self.kind_combo.model()
        assert isinstance(model, QStandardItemModel)
        distilled = self.plan is not None and self.plan.guidance_embedding
        lora_kind = self._few_step_lora()
        # The engine makes a model with the LCM-LoRA an LCM one unless told another kind,
        # and an LCM-distilled one LCM whatever it is told: the choice shows what it does.
        ordinary = model.item(self.kind_combo.findData(None))
        ordinary.setEnabled(not lora_kind)
        ordinary.setToolTip("The LCM-LoRA makes it an LCM model" if lora_kind else "")
        turbo = model.item(self.kind_combo.findData("turbo"))
        turbo.setEnabled(family != "sd1")
        turbo.setToolTip("SD-Turbo is an SD 2.x model" if family == "sd1" else "")
        kind = self.few_step()
        if kind == "turbo" and family == "sd1":
            kind = None
        if distilled:
            kind = "lcm"
        elif lora_kind and kind is None:
            kind, self._kind_from_lora = lora_kind, True
        elif self._kind_from_lora and not lora_kind:
            kind, self._kind_from_lora = None, False  # the LoRA that set it was removed
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
        self.kind_combo.setEnabled(not distilled)
        if distilled:
            note = ("An LCM-distilled model (it takes guidance as an input): it starts at "
                    f"{describe_defaults('lcm-distilled')}.")
        elif kind is None:
            note = f"Starts at {describe_defaults(None)}."
        else:
            note = f"Starts at {describe_defaults(kind)}, decoding with TAESD if it has it."
            if kind == lora_kind:
                note = "The LCM-LoRA makes it an LCM model: it " + note[0].lower() + note[1:]
        if self.hashing():
            note += " Reading the LoRAs\u2026"
        self.kind_note.setText(note)

    def _on_name_edited(self, _text: str) -> None:
        self._name_edited = True
        self._update()

    def _update(self) -> None:
        e = html.escape
        if self.plan is not None:
            self.plan_label.setText(describe_plan(self.plan))
        else:
            self.plan_label.setText("" if self._source is None else "Cannot be imported:")
        self.plan_label.setVisible(self._source is not None)
        self.error_label.setText(self.error)
        self.error_label.setVisible(bool(self.error))
        self.clear_vae_button.setEnabled(self._vae is not None)
        if self._taesd is None:
            self.taesd_note.setText("TAESD is not downloaded: download it in the Models "
                                    "window, or choose its taesd_decoder.safetensors.")
        else:
            self.taesd_note.setText(f"From {e(str(self._taesd))}." if self.taesd_box.isChecked()
                                    else "Not added: the model decodes with its own decoder "
                                         "only.")
        self.remove_lora_button.setEnabled(bool(self.lora_table.selectedIndexes()))
        name = self.name()
        if not name:
            note = "Give the model a name."
        elif not usable_name(name):
            note = f"'{e(name)}' is not a usable name: use letters, digits, '-', '_' and '.'."
        else:
            out = user_models_dir() / name
            note = f"Installs as <b>{e(name)}</b> in {e(str(user_models_dir()))}."
            if out.with_name(name + ".converting").exists():
                note += (" An earlier import of this name stopped part-way: importing the "
                         "same files again resumes it.")
            elif out.exists():
                note += " It replaces the model of that name now installed."
            if self.plan is not None:
                need = self.plan.disk_needed(self.precision())
                note += f" Needs about {format_bytes(need)} free while it converts."
        self.name_note.setText(note)
        self.import_button.setEnabled(self.request() is not None and not self.blocker)


def _item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    return item
