"""The local backend on tiny random diffusers pipelines built in code (never downloaded): every chain kind,
seeds, the safety checker, out of memory, model forms and their identities in request keys."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from PIL import Image  # noqa: E402

from storyboard.backends import FrameLabel, ImageRequest, InputImage, Outpainting  # noqa: E402
from storyboard.backends.local import hub, profiles, sources, tiny  # noqa: E402
from storyboard.backends.local.backend import LocalBackend, chain_of, key_settings, request_settings  # noqa: E402
from storyboard.backends.local.engine import scheduled_steps  # noqa: E402
from storyboard.errors import FatalFailure, FrameFailure  # noqa: E402

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the tiny pipelines once per session, with the shipped command's own function."""
    return tiny.build_all(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def hf_cache(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]) -> Path:
    """Return a Hugging Face cache holding the tiny SD pipeline as `stabilityai/sd-turbo` at revision SHA."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    repo = cache / "models--stabilityai--sd-turbo"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    shutil.copytree(tiny_models["sd"], repo / "snapshots" / SHA)
    return cache


@pytest.fixture
def backend(tmp_path: Path, hf_cache: Path) -> LocalBackend:
    return LocalBackend(base=tmp_path, device="cpu", hash_cache=tmp_path / "hashes.json", hf_cache=hf_cache, offline=True)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def image_input(data: bytes, role: str) -> InputImage:
    return InputImage(data, hashlib.sha256(data).hexdigest(), "image/png", role, role)  # type: ignore[arg-type]


def request(model: Path | str, prompt: str = "a robot dog in the rain", *, kind: str = "generate", seed: int = 1,
            options: dict | None = None, images: tuple[InputImage, ...] = (), mask: InputImage | None = None,
            label: FrameLabel | None = None, size: str = "64x64") -> ImageRequest:
    return ImageRequest(kind, str(model), prompt, size, None, options if options is not None else {"steps": 2},  # type: ignore[arg-type]
                        images=images, mask=mask, seed=seed, label=label)


def gen(backend: LocalBackend, req: ImageRequest) -> bytes:
    out = asyncio.run(backend.generate(req))
    assert out.media_type == "image/png"
    return out.data


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def spy_calls(backend: LocalBackend, model: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Record each pipeline call (class name and keyword arguments) the backend makes for `model`."""
    calls: list[tuple[str, dict]] = []
    engine = backend._load(model)
    real = engine.pipeline

    def pipeline(cls_name: str):  # type: ignore[no-untyped-def]
        pipe = real(cls_name)

        def call(**kw):  # type: ignore[no-untyped-def]
            calls.append((type(pipe).__name__, kw))
            return pipe.__class__.__call__(pipe, **kw)

        return call

    monkeypatch.setattr(engine, "pipeline", pipeline)
    return calls


# -- the tiny-pipeline maker -------------------------------------------------------------------


def test_tiny_command_builds_pipelines_that_load_like_real_ones(tiny_models: dict[str, Path]) -> None:
    for name, cls in (("sd", "StableDiffusionPipeline"), ("klein", "Flux2KleinPipeline")):
        index = json.loads((tiny_models[name] / "model_index.json").read_text())
        assert index["_class_name"] == cls
        assert list((tiny_models[name]).rglob("*.safetensors"))
    tok = json.loads((tiny_models["sd"] / "tokenizer" / "tokenizer_config.json").read_text())
    assert tok["model_max_length"] == 77
    profile = sources.folder_profile("./sd", tiny_models["sd"])
    assert (profile.family, profile.native, profile.known) == ("sd", 64, False)
    assert sources.folder_profile("./klein", tiny_models["klein"]).family == "flux2-klein"


def test_tiny_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tiny.main([str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert f"sd: {tmp_path / 'm' / 'sd'}" in out and "klein" in out
    assert (tmp_path / "m" / "klein" / "model_index.json").is_file()


# -- every chain kind -------------------------------------------------------------------------


def test_generate_is_text_to_image_at_the_asked_size(backend: LocalBackend, tiny_models: dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    model = str(tiny_models["sd"])
    calls = spy_calls(backend, model, monkeypatch)
    data = gen(backend, request(model, size="64x96"))
    assert decode(data).size == (64, 96)
    assert [c[0] for c in calls] == ["StableDiffusionPipeline"]
    kw = calls[0][1]
    assert kw["num_inference_steps"] == 2 and kw["prompt"] == "a robot dog in the rain"
    # the starting noise was drawn on the CPU in float32, then handed over
    assert kw["latents"].device.type == "cpu" and str(kw["latents"].dtype) == "torch.float32"
    assert tuple(kw["latents"].shape) == (1, 4, 48, 32)


def test_edit_without_mask_is_image_to_image_with_strength(backend: LocalBackend, tiny_models: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    model = str(tiny_models["sd"])
    source = gen(backend, request(model))
    calls = spy_calls(backend, model, monkeypatch)
    edit = request(model, "the same street at night", kind="edit", images=(image_input(source, "source"),),
                   options={"steps": 2, "strength": 0.5})
    data = gen(backend, edit)
    assert decode(data).size == (64, 64) and data != source
    name, kw = calls[0]
    assert name == "StableDiffusionImg2ImgPipeline" and kw["strength"] == 0.5
    assert kw["num_inference_steps"] == 4  # 4 x 0.5: exactly the 2 steps asked run
    assert kw["image"].size == (64, 64)


def test_edit_with_mask_is_inpainting_where_the_mask_is_transparent(backend: LocalBackend, tiny_models: dict[str, Path],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    model = str(tiny_models["sd"])
    source = gen(backend, request(model))
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 64, 16))  # the top quarter may change
    calls = spy_calls(backend, model, monkeypatch)
    edit = request(model, "a stormy sky", kind="edit", images=(image_input(source, "source"),),
                   mask=image_input(png(mask), "mask"))
    made = decode(gen(backend, edit)).convert("RGB")
    name, kw = calls[0]
    assert name == "StableDiffusionInpaintPipeline" and kw["strength"] == 1.0
    painted = kw["mask_image"]
    assert painted.getpixel((10, 5)) == 255 and painted.getpixel((10, 40)) == 0  # diffusers: white is painted
    # What the mask keeps is the artist's pixels exactly (the VAE's round trip shifts them all);
    # what it opens is the model's.
    before = decode(source).convert("RGB")
    assert made.crop((0, 16, 64, 64)).tobytes() == before.crop((0, 16, 64, 64)).tobytes()
    assert made.crop((0, 0, 64, 16)).tobytes() != before.crop((0, 0, 64, 16)).tobytes()


def test_the_seam_of_an_edit_is_soft_inside_the_mask_and_the_kept_pixels_exact() -> None:
    from storyboard.backends.local.images import keep_unmasked

    source, made = Image.new("RGB", (1024, 32), (0, 0, 0)), Image.new("RGB", (1024, 32), (255, 255, 255))
    mask = Image.new("L", (1024, 32), 0)
    mask.paste(255, (0, 0, 512, 32))  # diffusers' mask: the left half is painted
    row = [keep_unmasked(source, made, mask).getpixel((x, 16))[0] for x in range(1024)]
    assert row[512:] == [0] * 512  # every kept pixel the source's, to the edge
    assert row[:480] == [255] * 480  # well inside, the model's alone
    ramp = row[480:512]
    assert ramp == sorted(ramp, reverse=True) and 100 <= row[511] <= 200 and 5 <= sum(v < 250 for v in ramp) <= 30
    # an outpaint's new area (no pixels of the source's own there): the model's, to the seam
    own = Image.new("L", (1024, 32), 0)
    own.paste(255, (512, 0, 1024, 32))
    row = [keep_unmasked(source, made, mask, own).getpixel((x, 16))[0] for x in range(1024)]
    assert row == [255] * 512 + [0] * 512


def test_outpaint_inpaints_the_canvas_storyboard_built(backend: LocalBackend, tiny_models: dict[str, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from storyboard.render.imaging import outpaint_canvas

    model = str(tiny_models["sd"])
    source = gen(backend, request(model))
    canvas, mask = outpaint_canvas(source, (96, 64), (0, 0, 64, 64))
    calls = spy_calls(backend, model, monkeypatch)
    label = FrameLabel(3, "wider", None, 1, 1, outpaint=Outpainting("right", (0, 0, 64, 64)))
    req = request(model, "the street goes on", kind="edit", images=(image_input(canvas, "source"),),
                  mask=image_input(mask, "mask"), label=label, size="96x64")
    assert chain_of(req) == "outpaint"
    data = gen(backend, req)
    assert decode(data).size == (96, 64)
    # the frame it extends comes back exactly; the new strip is the model's
    made, before = decode(data).convert("RGB"), decode(source).convert("RGB")
    assert made.crop((0, 0, 64, 64)).tobytes() == before.tobytes()
    assert made.crop((64, 0, 96, 64)).getextrema() != ((127, 127), (127, 127), (127, 127))
    name, kw = calls[0]
    assert name == "StableDiffusionInpaintPipeline"
    assert kw["mask_image"].getpixel((80, 30)) == 255 and kw["mask_image"].getpixel((30, 30)) == 0
    assert kw["image"].getpixel((80, 30)) == (127, 127, 127)  # the new area, transparent, shown as neutral grey
    assert kw["image"].getpixel((30, 30)) == decode(source).convert("RGB").getpixel((30, 30))


def test_variation_is_image_to_image_at_the_profile_strength(backend: LocalBackend, tiny_models: dict[str, Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    model = str(tiny_models["sd"])
    source = gen(backend, request(model))
    calls = spy_calls(backend, model, monkeypatch)
    gen(backend, request(model, "", kind="variation", images=(image_input(source, "source"),)))
    name, kw = calls[0]
    assert name == "StableDiffusionImg2ImgPipeline"
    assert kw["strength"] == sources.folder_profile(model, Path(model)).strength


def test_references_go_to_a_model_that_takes_several_images(backend: LocalBackend, tiny_models: dict[str, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    sd, klein = str(tiny_models["sd"]), str(tiny_models["klein"])
    ref_a = gen(backend, request(sd, "rex, character sheet"))
    ref_b = gen(backend, request(sd, "mira, character sheet", seed=2))
    calls = spy_calls(backend, klein, monkeypatch)
    refs = (image_input(ref_a, "reference"), image_input(ref_b, "reference"))
    data = gen(backend, request(klein, "rex and mira in the lab", kind="edit", images=refs))
    assert decode(data).size == (64, 64)
    name, kw = calls[0]
    assert name == "Flux2KleinPipeline" and len(kw["image"]) == 2
    # an edit with references on klein: the source first, then the references
    source = image_input(data, "source")
    gen(backend, request(klein, "at night", kind="edit", images=(source, *refs)))
    name, kw = calls[1]
    assert name == "Flux2KleinPipeline" and len(kw["image"]) == 3


def test_klein_masked_edit_takes_references_beside_the_mask(backend: LocalBackend, tiny_models: dict[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    klein = str(tiny_models["klein"])
    source = gen(backend, request(klein))
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (32, 0, 64, 64))
    calls = spy_calls(backend, klein, monkeypatch)
    ref = image_input(source, "reference")
    gen(backend, request(klein, "rex on the right", kind="edit", images=(image_input(source, "source"), ref),
                         mask=image_input(png(mask), "mask")))
    name, kw = calls[0]
    assert name == "Flux2KleinInpaintPipeline" and len(kw["image_reference"]) == 1


# -- seeds ------------------------------------------------------------------------------------


def test_a_seed_is_a_picture_and_another_seed_another(backend: LocalBackend, tiny_models: dict[str, Path]) -> None:
    model = str(tiny_models["sd"])
    a = gen(backend, request(model, seed=7))
    assert gen(backend, request(model, seed=7)) == a  # byte-identical
    assert gen(backend, request(model, seed=8)) != a


def test_png_bytes_depend_on_pixels_alone() -> None:
    from storyboard.backends.local.images import png_bytes

    img = Image.new("RGB", (8, 8), (10, 20, 30))
    assert png_bytes(img) == png_bytes(img.copy())
    assert b"tIME" not in png_bytes(img) and b"tEXt" not in png_bytes(img)


def test_scheduled_steps_run_exactly_the_steps_asked() -> None:
    for steps in range(1, 12):
        for strength in (0.05, 0.1, 0.3, 0.5, 0.6, 0.7, 0.75, 0.9, 1.0):
            n = scheduled_steps(steps, strength)
            assert min(int(n * strength), n) == steps, (steps, strength)
    assert scheduled_steps(1, 0.5) == 2  # sd-turbo's own image-to-image example


# -- the safety checker and out of memory ----------------------------------------------------------


def test_a_blacked_out_image_is_a_moderation_failure(backend: LocalBackend, tiny_models: dict[str, Path]) -> None:
    with pytest.raises(FrameFailure) as e:
        gen(backend, request(tiny_models["sd-flagging"]))
    assert e.value.type == "moderation" and e.value.code == "nsfw_content_detected"
    assert "safety checker" in e.value.message


def test_out_of_memory_fails_the_frame_with_a_hint(backend: LocalBackend, tiny_models: dict[str, Path]) -> None:
    import torch

    model = str(tiny_models["sd"])
    engine = backend._load(model)

    def oom(*_a: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    handle = engine.base.unet.register_forward_pre_hook(oom)
    try:
        with pytest.raises(FrameFailure) as e:
            gen(backend, request(model))
    finally:
        handle.remove()
    assert e.value.type == "out_of_memory"
    assert "smaller size" in e.value.message and "--offload" in e.value.message
    assert gen(backend, request(model))  # the next frame runs


# -- model forms and identities ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "claimed"),
    [("./models/sd", True), ("../sd", True), ("/opt/sd", True), ("~/sd", True), ("dreamshaper.safetensors", True),
     ("stabilityai/sd-turbo", True), ("stabilityai/sd-turbo@abc123", True), ("stabilityai/sdxl-turbo", True),
     ("gpt-image-2", False), ("someone/some-model", False), ("dall-e-3", False)],
)
def test_claims(model: str, claimed: bool) -> None:
    assert sources.claims(model) is claimed


def test_parse_resolves_paths_against_the_story_folder(tmp_path: Path) -> None:
    ref = sources.parse("./models/sd", tmp_path)
    assert (ref.kind, ref.path) == ("folder", (tmp_path / "models" / "sd").resolve())
    assert sources.parse("~/m.safetensors", tmp_path).path == (Path.home() / "m.safetensors").resolve()
    ref = sources.parse("stabilityai/sd-turbo@abc123", tmp_path)
    assert (ref.kind, ref.repo, ref.revision) == ("repo", "stabilityai/sd-turbo", "abc123")
    with pytest.raises(sources.NotAModel, match="not a Hugging Face repo id"):
        sources.parse("not a model", tmp_path)


def test_a_folder_that_is_not_a_pipeline_says_so(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "unet.safetensors").write_bytes(b"x")
    with pytest.raises(sources.NotAModel) as e:
        sources.folder_profile("./weights", tmp_path / "weights")
    assert "no model_index.json" in str(e.value) and str(tmp_path / "weights") in str(e.value)
    with pytest.raises(sources.NotAModel, match="does not exist"):
        sources.folder_profile("./nowhere", tmp_path / "nowhere")


def test_folder_identity_is_a_hash_of_its_files_cached_by_size_and_mtime(tmp_path: Path,
                                                                        tiny_models: dict[str, Path]) -> None:
    folder = tmp_path / "sd"
    shutil.copytree(tiny_models["sd"], folder)
    ref = sources.parse(str(folder), tmp_path)
    cache = sources.HashCache(tmp_path / "h.json")
    first = sources.fingerprint(ref, cache)
    cache.save()
    assert sources.fingerprint(ref, sources.HashCache(tmp_path / "h.json")) == first
    # the cache is trusted while size and mtime hold ...
    reread = sources.HashCache(tmp_path / "h.json")
    entry = next(k for k in reread._data if k.endswith("unet/diffusion_pytorch_model.safetensors"))
    reread._data[entry][2] = "0" * 64
    assert sources.fingerprint(ref, reread) != first
    # ... and a changed file (new mtime) is read again
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert sources.fingerprint(ref, sources.HashCache(tmp_path / "h.json")) != first


def test_a_cached_repo_is_pinned_to_its_revision(backend: LocalBackend) -> None:
    r = backend.resolve("stabilityai/sd-turbo")
    assert r.identity == f"rev:{SHA}" and r.profile.known and r.profile.licence.startswith("sai-nc-community")
    assert r.folder is not None and r.folder.name == SHA
    data = gen(backend, request("stabilityai/sd-turbo", options={}))
    assert decode(data).size == (64, 64)
    assert backend.meta(request("stabilityai/sd-turbo"))["revision"] == SHA


def test_a_model_missing_offline_is_one_message_naming_repo_size_and_cache(backend: LocalBackend) -> None:
    with pytest.raises(hub.ModelUnavailable) as e:
        backend.resolve("stabilityai/sdxl-turbo")
    msg = e.value.message
    assert "stabilityai/sdxl-turbo" in msg and str(backend.cache) in msg and "13.9 GB" in msg
    assert "HF_HUB_OFFLINE" in msg and e.value.exit_code == 2


def test_key_material_changes_with_every_setting(backend: LocalBackend, tiny_models: dict[str, Path]) -> None:
    model = str(tiny_models["sd"])
    p = backend.resolve(model).profile
    base = key_settings(p, request(model))
    assert base["pipeline"] == "StableDiffusionPipeline" and base["steps"] == 2
    for options in ({"steps": 3}, {"steps": 2, "guidance": 2.0}, {"steps": 2, "scheduler": "ddim"}):
        assert key_settings(p, request(model, options=options)) != base
    assert key_settings(p, request(model, options={"steps": 2})) == base


# -- profiles: sizes and options ------------------------------------------------------------------


def test_profile_sizes_and_presets() -> None:
    p = profiles.PROFILES["stabilityai/sd-turbo"]
    assert profiles.resolve_size(p, "1:1") == ("512x512", [])
    assert profiles.resolve_size(p, "3:2") == ("768x512", [])
    assert profiles.resolve_size(p, "16:9")[0] == "912x512"
    with pytest.raises(ValueError, match="multiples of 8; try 512x520"):
        profiles.resolve_size(p, "512x517")
    assert profiles.resolve_size(p, "1024x1024")[1]  # far above its native size: a warning


def test_options_are_checked_per_profile() -> None:
    sd, klein = profiles.PROFILES["stabilityai/sd-turbo"], profiles.PROFILES[profiles.REFERENCE_MODEL]
    assert profiles.check_options(sd, {"steps": 4, "guidance": 1.5, "negative_prompt": "blur", "scheduler": "euler_a"},
                                  task="text2img") == []
    assert profiles.check_options(sd, {"stpes": 4}, task="text2img") == ["unknown option 'stpes' (did you mean 'steps'?)."]
    assert "whole number" in profiles.check_options(sd, {"steps": 2.5}, task="text2img")[0]
    assert "strength is for frames drawn over an input image" in profiles.check_options(sd, {"strength": 0.3}, task="text2img")[0]
    assert profiles.check_options(sd, {"strength": 0.3}, task="img2img") == []
    assert "takes no negative_prompt" in profiles.check_options(klein, {"negative_prompt": "x"}, task="text2img")[0]
    assert "did you mean 'euler_a'" in profiles.check_options(sd, {"scheduler": "euler-a"}, task="text2img")[0]
    assert profiles.option_warnings(sd, {"negative_prompt": "blur"})  # no effect at guidance 0


def test_references_on_sd_name_a_model_that_can() -> None:
    sd = profiles.PROFILES["stabilityai/sd-turbo"]
    msg = profiles.task_problem(sd, "generate", inputs=1, references=1)
    assert msg and profiles.REFERENCE_MODEL in msg
    assert profiles.task_problem(profiles.PROFILES[profiles.REFERENCE_MODEL], "generate", inputs=2, references=2) is None


def test_request_settings_follow_the_chain_kind(tiny_models: dict[str, Path]) -> None:
    p = sources.folder_profile("x", tiny_models["sd"])
    src = image_input(b"x", "source")
    assert request_settings(p, request("x")).task == "text2img"
    assert request_settings(p, request("x", kind="edit", images=(src,))).strength == profiles.EDIT_STRENGTH
    assert request_settings(p, request("x", kind="variation", images=(src,))).strength == p.strength


def test_load_failure_ends_the_run_naming_the_model(backend: LocalBackend, tmp_path: Path,
                                                   tiny_models: dict[str, Path]) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_models["sd"], broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(FatalFailure, match="could not be loaded"):
        gen(backend, request(broken))


def test_a_single_checkpoint_loads_with_its_familys_configs(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    # diffusers builds a checkpoint's pipeline from its family's configs (no weights) in the HF cache
    cache = tmp_path / "hub"
    repo = cache / "models--stable-diffusion-v1-5--stable-diffusion-v1-5"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    for f in tiny_models["sd"].rglob("*"):
        if f.is_file() and f.suffix in (".json", ".txt"):
            dest = repo / "snapshots" / SHA / f.relative_to(tiny_models["sd"])
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dest)
    b = LocalBackend(base=tmp_path, device="cpu", hf_cache=cache, offline=True)
    file = tiny_models["checkpoint"]
    r = b.resolve(str(file))
    assert r.profile.family == "sd" and r.identity == "sha256:" + hashlib.sha256(file.read_bytes()).hexdigest()
    from_file = gen(b, request(file, seed=3))
    from_folder = gen(LocalBackend(base=tmp_path, device="cpu", offline=True), request(tiny_models["sd"], seed=3))
    assert from_file == from_folder  # the same weights, converted back: the same picture


def test_a_checkpoint_without_configs_offline_says_what_to_fetch(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    b = LocalBackend(base=tmp_path, device="cpu", hf_cache=tmp_path / "empty", offline=True)
    with pytest.raises(FatalFailure) as e:
        gen(b, request(tiny_models["checkpoint"]))
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in e.value.message and "HF_HUB_OFFLINE" in e.value.message


def test_a_cancelled_request_stops_denoising_at_the_next_step(backend: LocalBackend, tiny_models: dict[str, Path]) -> None:
    model = str(tiny_models["sd"])
    backend._load(model)
    steps: list[int] = []
    cancelled = threading.Event()

    def progress(event: str, d: dict) -> None:
        if event == "step":
            steps.append(d["done"])
            cancelled.wait(60)  # the first step ends only once the request took the cancel (60 s: a hang)

    backend.progress = progress

    async def main() -> None:
        task = asyncio.ensure_future(backend.generate(request(model, options={"steps": 150})))
        while not steps:
            await asyncio.sleep(0.005)
        task.cancel()
        try:
            with pytest.raises(asyncio.CancelledError):
                await task  # the request has taken the cancel: the denoising is told to stop
        finally:
            cancelled.set()

    asyncio.run(main())  # which waits for the denoising thread
    assert steps == [1]  # stopped at the step after the cancel, however slow the machine
