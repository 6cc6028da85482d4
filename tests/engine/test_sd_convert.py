"""The Stable Diffusion converter's split plan and its resumable orchestration.

The real full-size conversion is proven by test_sd_parity.py; here the split is
checked on a small functional UNet with skip connections (running the parts in
sequence must give the whole model's output), and the parent's bookkeeping with
a worker that writes real files (resume, rejection, cancel, atomic install).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from parasight_desktop.engine import sd_convert
from parasight_desktop.engine.errors import CancelledError, InputError, ModelError
from parasight_desktop.engine.fileio import sha256_file
from parasight_desktop.engine.manifest import load_manifest


@pytest.mark.slow
def test_split_parts_run_in_sequence_equal_the_whole_model() -> None:
    import keras

    keras.utils.set_random_seed(0)
    latent = keras.Input((8, 8, 4), name="latent")
    temb = keras.Input((6,), name="timestep_embedding")
    context = keras.Input((5, 7), name="context")
    t = keras.layers.Dense(16)(temb)
    x = keras.layers.Conv2D(16, 3, padding="same")(latent)
    skips = [x]
    for width in (16, 32):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="swish")(x)
        x = keras.layers.Add()([x, keras.layers.Reshape((1, 1, width))(
            keras.layers.Dense(width)(t))]) if width == 16 else x
        skips.append(x)
    c = keras.layers.Dense(32)(keras.layers.GlobalAveragePooling1D()(context))
    x = keras.layers.Add()([x, keras.layers.Reshape((1, 1, 32))(c)])
    for _ in range(2):
        x = keras.layers.Concatenate()([x, skips.pop()])
        x = keras.layers.Conv2D(16, 3, padding="same")(x)
    out = keras.layers.Conv2D(4, 3, padding="same")(keras.layers.Concatenate()([x, skips.pop()]))
    model = keras.Model([latent, temb, context], out)

    budget = 3000
    plans = sd_convert.plan_unet(model, budget)
    assert len(plans) >= 3
    assert "noise" in plans[-1].outputs
    compute = [i for i, op in enumerate(model.operations) if type(op).__name__ != "InputLayer"]
    assert sorted(i for p in plans for i in p.ops) == compute
    single_ops = [p for p in plans if len(p.ops) == 1]
    assert all(p.params <= budget for p in plans if p not in single_ops)

    rng = np.random.default_rng(0)
    env = {"latent": rng.standard_normal((2, 8, 8, 4)).astype(np.float32),
           "timestep_embedding": rng.standard_normal((2, 6)).astype(np.float32),
           "context": rng.standard_normal((2, 5, 7)).astype(np.float32)}
    expected = np.asarray(model([env["latent"], env["timestep_embedding"], env["context"]]))
    tensors = sd_convert._tensor_index(model)
    for plan in plans:
        assert all(name in env for name in plan.inputs)  # produced earlier: routable
        part = keras.Model([tensors[n] for n in plan.inputs], [tensors[n] for n in plan.outputs])
        got = part([env[n] for n in plan.inputs])
        got = got if isinstance(got, (list, tuple)) else [got]
        env.update({n: np.asarray(v) for n, v in zip(plan.outputs, got)})
    np.testing.assert_allclose(env["noise"], expected, rtol=1e-5, atol=1e-5)


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for role in sd_convert.ROLES:
        p = tmp_path / "h5" / f"{role}.h5"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(role.encode() * 100)
        paths[role] = p
    return paths


class Worker:
    """Stands in for the TensorFlow worker process: writes a real file per part."""

    def __init__(self, n_parts: int = 3, fail_on: str | None = None,
                 psnr: float = 120.0) -> None:
        self.n_parts, self.fail_on, self.psnr = n_parts, fail_on, psnr
        self.ran: list[str] = []
        self.jobs: dict[str, dict] = {}  # each job it was given, by part

    def __call__(self, job, work, cancel, log):  # type: ignore[no-untyped-def]
        name = job["job"]
        self.ran.append(name)
        self.jobs[name] = job
        if name == self.fail_on:
            raise ModelError(f"Converting {name} stopped: it ran out of memory (killed).")
        if cancel is not None and cancel.is_set():
            raise CancelledError("Conversion cancelled.")
        if name.startswith("unet-"):
            k = int(name.split("-")[1])
            file = f"unet_{k}.tflite"
            ins = ["latent", "timestep_embedding", "context"] if k == 0 else [f"h{k - 1}"]
            outs = ["noise"] if k == self.n_parts - 1 else [f"h{k}"]
        else:
            file, ins, outs = f"{name}.tflite", ["x"], ["y"]
        path = Path(job["out_dir"]) / file
        path.write_bytes(name.encode() * 1000)
        return sd_convert.PartResult(
            job=name, file=file, inputs=ins, outputs=outs, params=1000, size=path.stat().st_size,
            sha256=sha256_file(path), seconds=1.0, peak_rss_bytes=2**30, psnr_db=self.psnr,
            max_abs_error=0.0, n_parts=self.n_parts)


def test_interrupted_conversion_resumes_at_the_part_where_it_stopped(
        sources, tmp_path, monkeypatch) -> None:
    out = tmp_path / "models" / "sd"
    crash = Worker(fail_on="unet-1")
    monkeypatch.setattr(sd_convert, "_run_job", crash)
    with pytest.raises(ModelError, match="out of memory"):
        sd_convert.convert_stable_diffusion(sources, out)
    assert crash.ran == ["text_encoder", "unet-0", "unet-1"]
    assert not out.exists()  # nothing installed half-way

    resume = Worker()
    monkeypatch.setattr(sd_convert, "_run_job", resume)
    statuses: list[tuple[str, str]] = []
    sd_convert.convert_stable_diffusion(sources, out,
                                        on_progress=lambda p: statuses.append((p.job, p.status)))
    assert resume.ran == ["unet-1", "unet-2", "decoder"]
    assert ("text_encoder", "skipped (already converted)") in statuses
    m = load_manifest(out)
    assert [p.file for p in m.unet_parts] == ["unet_0.tflite", "unet_1.tflite", "unet_2.tflite"]
    assert m.unet_output == "noise" and m.width == 512 and m.latent_shape == (64, 64, 4)
    assert m.timestep_embedding.dim == 320 and m.licence_name == "CreativeML OpenRAIL-M"
    assert m.extra["conversion"]["unet-1"]["peak_rss_gib"] == 1.0
    assert not out.with_name("sd.converting").exists()
    assert m.extra["batch"] == 1 and m.extra["lean_attention"] is True
    assert sd_convert.is_current_conversion(out, "fp32")
    assert not sd_convert.is_current_conversion(out, "int8")
    assert not sd_convert.is_current_conversion(tmp_path / "missing", "fp32")


def test_the_layout_is_part_of_the_resume_key(sources, tmp_path, monkeypatch) -> None:
    """A conversion stopped under another layout (any batch) is not mixed with this one."""
    out = tmp_path / "sd"
    monkeypatch.setattr(sd_convert, "_run_job", Worker(fail_on="decoder"))
    with pytest.raises(ModelError):
        sd_convert.convert_stable_diffusion(sources, out, batch=None)
    again = Worker()
    monkeypatch.setattr(sd_convert, "_run_job", again)
    sd_convert.convert_stable_diffusion(sources, out)
    assert again.ran[0] == "text_encoder"


def test_token_downsampling_is_recorded_and_never_taken_for_the_exact_model(
        sources, tmp_path, monkeypatch) -> None:
    worker = Worker()
    monkeypatch.setattr(sd_convert, "_run_job", worker)
    out = sd_convert.convert_stable_diffusion(sources, tmp_path / "sd", token_downsample=2)
    assert load_manifest(out).extra["token_downsample"] == 2
    assert not sd_convert.is_current_conversion(out, "fp32")  # not KerasCV's arithmetic
    assert worker.jobs["unet-0"]["token_downsample"] == 2
    assert worker.jobs["text_encoder"]["token_downsample"] == 2  # harmless: UNet only


def test_a_damaged_finished_part_is_converted_again(sources, tmp_path, monkeypatch) -> None:
    out = tmp_path / "sd"
    monkeypatch.setattr(sd_convert, "_run_job", Worker(fail_on="decoder"))
    with pytest.raises(ModelError):
        sd_convert.convert_stable_diffusion(sources, out)
    (out.with_name("sd.converting") / "unet_0.tflite").write_bytes(b"damaged")
    again = Worker()
    monkeypatch.setattr(sd_convert, "_run_job", again)
    sd_convert.convert_stable_diffusion(sources, out)
    assert again.ran == ["unet-0", "decoder"]


def test_changed_settings_start_over(sources, tmp_path, monkeypatch) -> None:
    out = tmp_path / "sd"
    monkeypatch.setattr(sd_convert, "_run_job", Worker(fail_on="decoder"))
    with pytest.raises(ModelError):
        sd_convert.convert_stable_diffusion(sources, out, precision="fp32")
    again = Worker()
    monkeypatch.setattr(sd_convert, "_run_job", again)
    sd_convert.convert_stable_diffusion(sources, out, precision="int8")
    assert again.ran[0] == "text_encoder"


def test_a_part_that_differs_from_keras_is_refused(sources, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sd_convert, "_run_job", Worker(psnr=9.0))
    with pytest.raises(ModelError, match="PSNR 9.0 dB, needs 60"):
        sd_convert.convert_stable_diffusion(sources, tmp_path / "sd")


def test_cancel_stops_and_keeps_finished_parts(sources, tmp_path, monkeypatch) -> None:
    cancel = threading.Event()
    worker = Worker()
    monkeypatch.setattr(sd_convert, "_run_job", worker)

    def progress(p: sd_convert.ConvertProgress) -> None:
        if p.job == "unet-0" and p.status == "done":
            cancel.set()

    with pytest.raises(CancelledError):
        sd_convert.convert_stable_diffusion(sources, tmp_path / "sd", on_progress=progress,
                                            cancel=cancel)
    state = json.loads((tmp_path / "sd.converting" / ".work" / "convert-state.json").read_text())
    assert sorted(state["done"]) == ["text_encoder", "unet-0"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"precision": "bf16"}, "Unknown precision"),
    ({"height": 500}, "multiples of 128"),
    ({"width": 2048}, "multiples of 128"),
    ({"token_downsample": 3}, "Token downsampling 3 is not supported"),
])
def test_bad_settings_are_refused_before_any_work(sources, tmp_path, kwargs, fragment) -> None:
    with pytest.raises(InputError, match=fragment):
        sd_convert.convert_stable_diffusion(sources, tmp_path / "sd", **kwargs)


def test_missing_weights_file_is_named(sources, tmp_path) -> None:
    sources["decoder"].unlink()
    with pytest.raises(InputError, match="decoder weights file is missing"):
        sd_convert.convert_stable_diffusion(sources, tmp_path / "sd")


@pytest.mark.slow
def test_worker_failure_message_names_the_part_and_the_log(sources, tmp_path) -> None:
    job = {"job": "text_encoder", "sources": {k: str(v) for k, v in sources.items()}, "height": 512,
           "width": 512, "precision": "fp32", "out_dir": str(tmp_path), "work_dir": str(tmp_path),
           "max_params": 10}
    log = tmp_path / "convert.log"
    with pytest.raises(ModelError, match=r"Converting text_encoder stopped: .*Log: .*convert.log"):
        sd_convert._run_job(job, tmp_path, None, log)
    assert "could not be read" in log.read_text()  # the real worker's own sentence


def test_part_result_round_trips_through_json() -> None:
    r = Worker()({"job": "decoder", "out_dir": "/tmp"}, None, None, None)
    assert sd_convert.PartResult(**json.loads(json.dumps(asdict(r)))) == r


@pytest.mark.slow
@pytest.mark.parametrize("cross", [False, True])
def test_lean_attention_computes_what_keras_cv_does(cross: bool, tmp_path: Path) -> None:
    """The per-head arrangement traced for conversion (self- and cross-attention) gives
    KerasCV's CrossAttention output, in Keras and after conversion to TFLite."""
    import keras
    from keras_cv.src.models.stable_diffusion.diffusion_model import CrossAttention

    from parasight_desktop.engine.converter import TensorSpec, convert_keras_model

    keras.utils.set_random_seed(0)
    x_in = keras.Input((64, 32), batch_size=1, name="x")
    c_in = keras.Input((7, 24), batch_size=1, name="c")
    layer = CrossAttention(4, 8)
    model = keras.Model([x_in, c_in], layer(x_in, context=c_in if cross else None))
    rng = np.random.default_rng(1)
    probe = {"x": rng.standard_normal((1, 64, 32)).astype(np.float32),
             "c": rng.standard_normal((1, 7, 24)).astype(np.float32)}
    expected = np.asarray(model([probe["x"], probe["c"]]))
    original = CrossAttention.call
    with sd_convert._lean_attention():
        lean = np.asarray(model([probe["x"], probe["c"]]))
    np.testing.assert_allclose(lean, expected, rtol=1e-5, atol=1e-5)
    assert CrossAttention.call is original  # restored afterwards

    report = convert_keras_model(
        model, tmp_path / "attn.tflite",
        [TensorSpec("x", (1, 64, 32)), TensorSpec("c", (1, 7, 24))], ["y"], "fp32",
        probe=probe, workdir=tmp_path, rewrite=sd_convert._lean_attention)
    assert report.psnr_db is not None and report.psnr_db > 80  # probe: KerasCV's own call
    from ai_edge_litert.interpreter import Interpreter

    ops = {o["op_name"] for o in Interpreter(str(report.path))._get_ops_details()}
    assert "SHAPE" not in ops  # a fixed batch: no shape arithmetic left in the graph


def test_query_rows_chunk_only_the_large_score_matrices() -> None:
    rows = sd_convert._query_rows
    assert rows(4096, 4096) == 512  # SD 1.x at 512x512, the 64x64 self-attentions
    assert rows(4096, 77) == 0 and rows(1024, 1024) == 0  # cross-attention, 32x32
    assert rows(9216, 9216) == 224  # SD 2.x at 768x768
    assert rows(None, 4096) == 0  # a size unknown at tracing: all at once


@pytest.mark.slow
def test_chunked_queries_are_the_same_products(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """The self-attention with its queries in chunks (as for 64x64 latents, made small
    here) gives what the unchunked arrangement gives, bit for bit in the converted
    model, with one score product per chunk and head; eight heads (and four chunks) are
    joined by concatenations XNNPACK takes, so the converted block is one delegated
    graph."""
    import keras
    from ai_edge_litert.interpreter import Interpreter
    from keras_cv.src.models.stable_diffusion.diffusion_model import CrossAttention

    from parasight_desktop.engine.converter import TensorSpec, convert_keras_model

    keras.utils.set_random_seed(0)
    x_in = keras.Input((64, 32), batch_size=1, name="x")
    model = keras.Model(x_in, CrossAttention(8, 4)(x_in))
    probe = {"x": np.random.default_rng(1).standard_normal((1, 64, 32)).astype(np.float32)}
    outs = {}
    for name, above in (("whole", 2**22), ("chunked", 0)):
        monkeypatch.setattr(sd_convert, "_CHUNK_ABOVE", above)
        monkeypatch.setattr(sd_convert, "_CHUNK_ELEMENTS", 16 * 64)  # 16 queries a chunk
        report = convert_keras_model(
            model, tmp_path / f"{name}.tflite", [TensorSpec("x", (1, 64, 32))], ["y"],
            "fp32", probe=probe, workdir=tmp_path, rewrite=sd_convert._lean_attention)
        assert report.psnr_db is not None and report.psnr_db > 80
        it = Interpreter(str(report.path))
        matmuls = sum(o["op_name"] == "BATCH_MATMUL" for o in it._get_ops_details())
        assert matmuls == 2 * 8 * (4 if name == "chunked" else 1)  # heads x chunks
        it.allocate_tensors()
        assert [o["op_name"] for o in it._get_ops_details()].count("DELEGATE") == 1
        it.set_tensor(it.get_input_details()[0]["index"], probe["x"])
        it.invoke()
        outs[name] = it.get_tensor(it.get_output_details()[0]["index"])
    assert np.array_equal(outs["chunked"], outs["whole"])


def _attention_reference(layer, x: np.ndarray, pool: int) -> np.ndarray:
    """KerasCV's CrossAttention self-attention in numpy, keys and values taken from
    the tokens average-pooled ``pool`` x ``pool`` on their square grid."""
    n, c = x.shape[1:]
    side = round(n ** 0.5)
    g = x.reshape(1, side, side, c)
    g = g.reshape(1, side // pool, pool, side // pool, pool, c).mean(axis=(2, 4))
    src = g.reshape(1, -1, c)

    def dense(d, v):
        w = [np.asarray(t) for t in d.weights]
        return v @ w[0] + (w[1] if len(w) > 1 else 0)

    q, k, v = dense(layer.to_q, x) * layer.scale, dense(layer.to_k, src), dense(layer.to_v, src)
    heads = []
    for h in range(layer.num_heads):
        sl = slice(h * layer.head_size, (h + 1) * layer.head_size)
        s = q[:, :, sl] @ k[:, :, sl].transpose(0, 2, 1)
        p = np.exp(s - s.max(-1, keepdims=True))
        heads.append((p / p.sum(-1, keepdims=True)) @ v[:, :, sl])
    return dense(layer.out_proj, np.concatenate(heads, -1))


@pytest.mark.slow
def test_token_downsampling_pools_keys_and_values_of_full_size_self_attention_only() -> None:
    import keras
    from keras_cv.src.models.stable_diffusion.diffusion_model import CrossAttention

    keras.utils.set_random_seed(0)
    x_in = keras.Input((64, 32), batch_size=1, name="x")
    c_in = keras.Input((7, 24), batch_size=1, name="c")
    self_layer, cross_layer = CrossAttention(4, 8), CrossAttention(4, 8)
    small = keras.Input((16, 32), batch_size=1, name="s")
    model = keras.Model([x_in, c_in, small], [self_layer(x_in), cross_layer(x_in, context=c_in),
                                              self_layer(small)])
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 64, 32)).astype(np.float32)
    c = rng.standard_normal((1, 7, 24)).astype(np.float32)
    s = rng.standard_normal((1, 16, 32)).astype(np.float32)
    exact = [np.asarray(t) for t in model([x, c, s])]
    with sd_convert._lean_attention((8, 8, 2)):  # an 8x8 grid of tokens, pooled 2x2
        todo = [np.asarray(t) for t in model([x, c, s])]
    np.testing.assert_allclose(todo[0], _attention_reference(self_layer, x, 2), atol=1e-5)
    np.testing.assert_allclose(_attention_reference(self_layer, x, 1), exact[0], atol=1e-5)
    assert np.abs(todo[0] - exact[0]).max() > 1e-3  # it is an approximation
    np.testing.assert_allclose(todo[1], exact[1], atol=1e-5)  # cross-attention: untouched
    np.testing.assert_allclose(todo[2], exact[2], atol=1e-5)  # a smaller grid: untouched


def test_install_names_say_what_was_converted() -> None:
    assert sd_convert.install_name("sd-v1.4", "fp32", (512, 512), None) == "sd-v1.4"
    assert sd_convert.install_name("sd-v1.4", "int8", (768, 512), None) == "sd-v1.4-int8-768x512"
    assert sd_convert.install_name("sd-v1.4", "int8", (512, 512), None, 2) == "sd-v1.4-int8-todo2"
    assert sd_convert.install_name("sd-v1.4", "int8", (512, 512), "mine", 2) == "mine"


def test_cli_import_keras_passes_token_downsampling_through(
        sources, tmp_path, monkeypatch, capsys) -> None:
    from parasight_desktop import cli

    monkeypatch.setenv("PARASIGHT_DATA_DIR", str(tmp_path / "data"))
    worker = Worker()
    monkeypatch.setattr(sd_convert, "_run_job", worker)
    args = ["models", "import-keras", "--text-encoder", str(sources["text_encoder"]),
            "--diffusion-model", str(sources["diffusion_model"]),
            "--decoder", str(sources["decoder"]), "--model", "not-in-catalogue",
            "--precision", "int8"]
    assert cli.main([*args, "--token-downsample", "2"]) == 0
    out = tmp_path / "data" / "models" / "not-in-catalogue-int8-todo2"
    assert load_manifest(out).extra["token_downsample"] == 2
    assert worker.jobs["unet-1"]["token_downsample"] == 2
    with pytest.raises(SystemExit) as exc:
        cli.main([*args, "--token-downsample", "3"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_a_token_downsampled_conversion_is_checked_against_the_downsampled_model(
        tmp_path: Path) -> None:
    """The probe compares with Keras under the same downsampling (the conversion's
    fidelity); against the exact model it would see the approximation instead."""
    import keras
    from keras_cv.src.models.stable_diffusion.diffusion_model import CrossAttention

    from parasight_desktop.engine.converter import TensorSpec, convert_keras_model

    keras.utils.set_random_seed(0)
    x_in = keras.Input((64, 32), batch_size=1, name="x")
    model = keras.Model(x_in, CrossAttention(4, 8)(x_in))
    probe = {"x": np.random.default_rng(3).standard_normal((1, 64, 32)).astype(np.float32) * 4}
    reports = {
        same: convert_keras_model(
            model, tmp_path / f"todo-{same}.tflite", [TensorSpec("x", (1, 64, 32))], ["y"],
            "fp32", probe=probe, workdir=tmp_path,
            rewrite=lambda: sd_convert._lean_attention((8, 8, 2)), probe_with_rewrite=same)
        for same in (True, False)}
    assert reports[True].psnr_db > 80  # the downsampled model, converted faithfully
    assert reports[False].psnr_db < reports[True].psnr_db - 20  # exact vs downsampled
