"""AI-GenBench v1 generator names and release dates, and the generator id mapping."""

from __future__ import annotations

from collections.abc import Iterable

# The 36 benchmark generators with their release dates (spec aigenbench.md section 2.1).
# The exact strings are the values of the dataset's `generator` column.
BENCHMARK_GENERATORS: dict[str, str] = {
    "CycleGAN": "2017-03-30",
    "Cascaded Refinement Networks": "2017-07-28",
    "ProGAN": "2017-10-27",
    "StarGAN": "2017-11-24",
    "SN-PatchGAN": "2018-06-10",
    "BigGAN": "2018-09-28",
    "IMLE": "2018-11-29",
    "StyleGAN1": "2018-12-12",
    "GauGAN": "2019-03-18",
    "StyleGAN2": "2019-12-03",
    "DDPM": "2020-06-19",
    "CIPS": "2020-11-27",
    "VQGAN": "2020-12-17",
    "GANformer": "2021-03-01",
    "ADM": "2021-05-11",
    "StyleGAN3": "2021-06-23",
    "LaMa": "2021-09-15",
    "FaceSynthetics": "2021-09-30",
    "ProjectedGAN": "2021-11-01",
    "Palette": "2021-11-10",
    "VQ-Diffusion": "2021-11-29",
    "Denoising Diffusion GAN": "2021-12-16",
    "Glide": "2021-12-20",
    "Latent Diffusion": "2021-12-21",
    "Midjourney": "2022-02-01",
    "MAT": "2022-03-29",
    "Diffusion GAN (ProjectedGAN)": "2022-06-05",
    "Diffusion GAN (StyleGAN2)": "2022-06-06",
    "Stable Diffusion 1.4": "2022-08-22",
    "Stable Diffusion 1.5": "2022-10-20",
    "Stable Diffusion 2.1": "2022-12-07",
    "DeepFloyd IF": "2023-04-26",
    "Stable Diffusion XL 1.0": "2023-07-26",
    "DALL-E 3": "2023-09-20",
    "FLUX 1 Dev": "2024-08-01",
    "FLUX 1 Schnell": "2024-08-02",
}

REAL_GENERATOR = ""


def make_generator_id_to_name(generators: Iterable[str]) -> list[str]:
    """AI-GenBench id mapping: id 0 is the real class (``""``), then plain Python string sort of the names.

    Plain ``sorted`` puts uppercase before lowercase, so ``"CIPS"`` precedes ``"Cascaded ..."``, as in the
    reference framework.
    """
    names = sorted(set(generators) - {REAL_GENERATOR})
    return [REAL_GENERATOR, *names]


__all__ = ["BENCHMARK_GENERATORS", "REAL_GENERATOR", "make_generator_id_to_name"]
