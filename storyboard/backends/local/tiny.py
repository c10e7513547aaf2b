"""Tiny random diffusers pipelines, built in code and saved like real ones, to try the local backend offline.

`python -m storyboard.backends.local.tiny [DIR]` (default ~/.cache/storyboard/tiny) writes `DIR/sd` (Stable Diffusion: text-to-image,
image-to-image, inpainting, with a safety checker) and `DIR/klein` (FLUX.2 klein: several input
images). Their weights are random, so their pictures are coloured noise; everything else (loading
through `from_pretrained`, schedulers, seeds, safety checking) is the real code path. They are
built the way diffusers' own tests build theirs, and nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

# The tokenizers' vocabulary: the 256 byte symbols of byte-level BPE, as ends of words and not.
_SPECIAL_CLIP = ("<|startoftext|>", "<|endoftext|>")
_SPECIAL_QWEN = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
# A chat template of Qwen3's form, enough for FLUX.2 klein's prompt encoding.
_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
SIZE = 64  # the tiny pipelines' native size (pixels per side)
DEFAULT_DIR = "~/.cache/storyboard/tiny"


def _byte_symbols() -> list[str]:
    """Return GPT-2's printable stand-ins for the 256 bytes, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    out, n = {}, 0
    for b in range(256):
        if b in printable:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return [out[b] for b in range(256)]


def _write_bpe(folder: Path, tokens: list[str]) -> tuple[Path, Path]:
    """Write a vocab.json and a merges.txt (no merges: one token per byte) into `folder`."""
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder / "vocab.json", folder / "merges.txt"


def clip_tokenizer():  # -> transformers.CLIPTokenizer
    """Build a CLIP tokenizer from a vocab.json and merges.txt written to a temporary folder."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = _write_bpe(Path(tmp), [*symbols, *(s + "</w>" for s in symbols), *_SPECIAL_CLIP])
        return CLIPTokenizer(vocab=str(vocab), merges=str(merges), model_max_length=77)


def qwen_tokenizer():  # -> transformers.Qwen2TokenizerFast
    """Build a Qwen2 tokenizer (byte-level BPE with a chat template) from files in a temporary folder."""
    from transformers import Qwen2TokenizerFast

    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = _write_bpe(Path(tmp), [*_byte_symbols(), *_SPECIAL_QWEN])
        tok = Qwen2TokenizerFast(vocab=str(vocab), merges=str(merges), model_max_length=512)
    tok.add_special_tokens({"additional_special_tokens": list(_SPECIAL_QWEN[1:])})
    tok.chat_template = _CHAT_TEMPLATE
    return tok


def safety_checker(flag_everything: bool):  # -> (StableDiffusionSafetyChecker, CLIPImageProcessor)
    """Build a tiny safety checker and its feature extractor; it flags every image or none."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 1,
                     "vocab_size": 100, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={"hidden_size": 16, "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 1,
                       "image_size": 32, "patch_size": 8},
        projection_dim=8,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    # An image is flagged when its cosine similarity to a concept exceeds the concept's weight;
    # similarities lie in [-1, 1], so a weight of -2 flags everything and 2 nothing.
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-2.0 if flag_everything else 2.0)
        checker.special_care_embeds_weights.fill_(2.0)
    extractor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return checker, extractor


def build_sd(folder: Path, *, flag_everything: bool = False) -> Path:
    """Save a tiny Stable Diffusion pipeline (with a safety checker) into `folder`; return it."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_tokenizer()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=SIZE // 2, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=2,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(4, 8), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=2,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, sample_size=SIZE,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(tokenizer), max_position_embeddings=77,
    ))
    # sd-turbo's scheduler: Euler with trailing timesteps, so one or two steps make an image.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1,
    )
    checker, extractor = safety_checker(flag_everything)
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=checker, feature_extractor=extractor, requires_safety_checker=True,
    )
    pipe.save_pretrained(folder)
    return folder


def build_klein(folder: Path) -> Path:
    """Save a tiny FLUX.2 klein pipeline (text-to-image that takes several reference images) into `folder`."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = qwen_tokenizer()
    hidden = 16
    torch.manual_seed(0)
    # klein stacks the text encoder's hidden states 9, 18 and 27: 27 tiny layers keep the real defaults.
    text_encoder = Qwen3ForCausalLM(Qwen3Config(
        hidden_size=hidden, intermediate_size=16, num_hidden_layers=27, num_attention_heads=2, num_key_value_heads=2,
        head_dim=8, vocab_size=len(tokenizer), max_position_embeddings=512, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    ))
    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=3 * hidden, timestep_guidance_channels=256, axes_dims_rope=[4, 4, 4, 4],
        guidance_embeds=False,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLFlux2(
        sample_size=SIZE, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(4, 4), layers_per_block=1, latent_channels=1,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
    )
    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        transformer=transformer, is_distilled=True,
    )
    pipe.save_pretrained(folder)
    return folder


def _ldm_unet_names(config: dict) -> list[tuple[str, str]]:
    """Return (diffusers prefix, original Stable Diffusion prefix) pairs of a UNet's blocks, for its config."""
    n, per = len(config["block_out_channels"]), config["layers_per_block"]
    down_attn = ["CrossAttn" in t for t in config["down_block_types"]]
    up_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    pairs = [("conv_in.", "input_blocks.0.0."), ("time_embedding.linear_1.", "time_embed.0."),
             ("time_embedding.linear_2.", "time_embed.2."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."),
             ("mid_block.resnets.0.", "middle_block.0."), ("mid_block.attentions.0.", "middle_block.1."),
             ("mid_block.resnets.1.", "middle_block.2.")]
    for i in range(n):
        for j in range(per):
            k = 1 + i * (per + 1) + j
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{k}.0."))
            if down_attn[i]:
                pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{k}.1."))
        if i < n - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (per + 1)}.0.op."))
        for j in range(per + 1):
            k = i * (per + 1) + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{k}.0."))
            if up_attn[i]:
                pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{k}.1."))
        if i < n - 1:
            pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{i * (per + 1) + per}.{2 if up_attn[i] else 1}."))
    return pairs


_UNET_RESNET = (("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("norm2.", "out_layers.0."),
                ("conv2.", "out_layers.3."), ("time_emb_proj.", "emb_layers.1."), ("conv_shortcut.", "skip_connection."))
_VAE_ATTN = (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out."))


def _rename(key: str, pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """Return (new prefix, rest of the key) for the longest diffusers prefix that `key` starts with."""
    best = max((p for p in pairs if key.startswith(p[0])), key=lambda p: len(p[0]), default=None)
    return (best[1], key[len(best[0]):]) if best else None


def _ldm_unet(state: dict, config: dict) -> dict:
    out = {}
    pairs = _ldm_unet_names(config)
    for key, value in state.items():
        hit = _rename(key, pairs)
        if hit is None:
            raise ValueError(f"no original name for UNet weight {key}")
        prefix, rest = hit
        if ".resnets." in key:
            rest = next((new + rest[len(old):] for old, new in _UNET_RESNET if rest.startswith(old)), rest)
        out["model.diffusion_model." + prefix + rest] = value
    return out


def _ldm_vae(state: dict, config: dict) -> dict:
    n = len(config["block_out_channels"])
    pairs: list[tuple[str, str]] = [("encoder.conv_norm_out.", "encoder.norm_out."), ("decoder.conv_norm_out.", "decoder.norm_out.")]
    for part in ("encoder", "decoder"):
        pairs += [(f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1."), (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2."),
                  (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.")]
    for i in range(n):
        pairs += [(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block."),
                  (f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."),
                  (f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{n - 1 - i}.block."),
                  (f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{n - 1 - i}.upsample.")]
    out = {}
    for key, value in state.items():
        hit = _rename(key, pairs)
        new = hit[0] + hit[1] if hit else key
        new = new.replace("conv_shortcut.", "nin_shortcut.")
        if ".mid.attn_1." in new:
            head, _, tail = new.partition(".mid.attn_1.")
            tail = next((b + tail[len(a):] for a, b in _VAE_ATTN if tail.startswith(a)), tail)
            new = f"{head}.mid.attn_1.{tail}"
            if tail.endswith("weight") and value.ndim == 2:
                value = value[:, :, None, None]  # the original attention uses 1x1 convolutions
        out["first_stage_model." + new] = value
    return out


def build_checkpoint(folder: Path, file: Path) -> Path:
    """Write a tiny SD pipeline folder as one original-layout .safetensors checkpoint (as A1111 keeps them)."""
    from safetensors.torch import load_file, save_file

    def part(name: str) -> tuple[dict, dict]:
        weights = next((folder / name).glob("*.safetensors"))
        return load_file(weights), json.loads((folder / name / "config.json").read_text())

    unet, unet_config = part("unet")
    vae, vae_config = part("vae")
    text, _ = part("text_encoder")
    state = {**_ldm_unet(unet, unet_config), **_ldm_vae(vae, vae_config),
             # the original layout nests CLIP under text_model (transformers 5.6+ saves it flat)
             **{"cond_stage_model.transformer." + (k if k.startswith("text_model.") else "text_model." + k): v
                for k, v in text.items()}}
    save_file({k: v.contiguous() for k, v in state.items()}, str(file))
    return file


def build_all(root: Path) -> dict[str, Path]:
    """Build every tiny pipeline under `root`: sd, sd-flagging (its checker flags everything), klein, and
    sd.safetensors (sd as one checkpoint; loading it needs sd's configs, see `install_config`)."""
    root.mkdir(parents=True, exist_ok=True)
    return {
        "sd": build_sd(root / "sd"),
        "sd-flagging": build_sd(root / "sd-flagging", flag_everything=True),
        "klein": build_klein(root / "klein"),
        "checkpoint": build_checkpoint(root / "sd", root / "sd.safetensors"),
    }


def main(argv: list[str] | None = None) -> int:
    """Build the tiny pipelines into DIR and say how to use them."""
    parser = argparse.ArgumentParser(prog="python -m storyboard.backends.local.tiny", description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path, nargs="?", default=Path(DEFAULT_DIR),
                        help=f"folder to write the pipelines into [default: {DEFAULT_DIR}]")
    args = parser.parse_args(argv)
    args.dir = args.dir.expanduser()
    try:
        import diffusers  # noqa: F401
    except ImportError:
        print("The local backend is not installed: pip install 'storyboard-chain[local]'", file=sys.stderr)
        return 2
    from storyboard.backends.local.loader import quiet

    quiet()
    for name, path in build_all(args.dir).items():
        print(f"{name}: {path}")
    shown = DEFAULT_DIR if args.dir == Path(DEFAULT_DIR).expanduser() else str(args.dir.resolve())
    print(f"Use one as a story's model, e.g. `model: {shown}/sd` (size {SIZE}x{SIZE}); "
          "pipelines/local-tiny.yaml runs every chain kind on them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
