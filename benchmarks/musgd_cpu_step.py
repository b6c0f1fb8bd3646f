"""MuSGD's Newton-Schulz step on CPU: the library's bfloat16 path vs edgeyolo's float32 path.

Prints the time of each on the same batched update (shapes of yolo26n's largest convolutions) and the
ratio, plus how far the two results are apart. Run: .venv/bin/python benchmarks/musgd_cpu_step.py
"""

from __future__ import annotations

import time

import torch

from edgeyolo._backend.env import import_ultralytics


def _time(fn, x, repeat: int = 3) -> float:
    fn(x)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn(x)
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    from ultralytics.optim import muon

    library = muon.zeropower_via_newtonschulz5  # before edgeyolo patches it
    import_ultralytics()
    ours = muon.zeropower_via_newtonschulz5
    assert ours is not library, "edgeyolo's CPU float32 path is not installed"
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for shape in [(8, 256, 1152), (16, 128, 576), (4, 64, 64)]:
        g = torch.randn(*shape)
        t_lib, t_ours = _time(library, g), _time(ours, g)
        diff = (library(g).float() - ours(g)).abs().max().item()
        print(f"{str(shape):<16} library bf16 {t_lib * 1e3:9.1f} ms   edgeyolo fp32 {t_ours * 1e3:8.1f} ms   "
              f"speed-up x{t_lib / t_ours:5.1f}   max |diff| {diff:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
