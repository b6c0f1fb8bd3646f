"""edgeyolo's fixes to the library, applied once by ``env.import_ultralytics``.

- MuSGD's Newton-Schulz orthogonalisation in float32 on CPU tensors (bfloat16 is emulated there, slowly).
- The float16 AMP check without its yolo26n.pt download.
"""

from __future__ import annotations


def patch_ultralytics() -> None:
    """Apply every patch; each one is applied at most once, also when called again."""
    _patch_muon_cpu_precision()
    _patch_amp_check()


def _patch_muon_cpu_precision() -> None:
    """Run MuSGD's Newton-Schulz orthogonalisation in float32 on CPU tensors.

    Ultralytics computes it in bfloat16, which CPUs without native bf16 matmul emulate: on a 2-core AVX2
    machine the optimizer step then costs more than forward and backward together (measured 4.7 s vs 0.18 s
    for a [8, 256, 1152] batch). Same iteration and coefficients; float32 is at least as accurate. GPU
    tensors keep the library's bfloat16 path.
    """
    try:
        from ultralytics.optim import muon
    except ImportError:  # an ultralytics without MuSGD
        return
    original = muon.zeropower_via_newtonschulz5
    if getattr(original, "_edgeyolo_cpu_fp32", False):
        return

    def zeropower_via_newtonschulz5(G, eps: float = 1e-7):
        if G.device.type != "cpu":
            return original(G, eps)
        X = G.reshape(-1, G.size(-2), G.size(-1)).float()
        X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
        tall = G.size(-2) > G.size(-1)
        if tall:
            X = X.transpose(-2, -1)
        a, b, c = 3.4445, -4.7750, 2.0315
        for _ in range(5):
            A = X @ X.transpose(-2, -1)
            B = torch.baddbmm(A, A, A, beta=b, alpha=c)
            X = torch.baddbmm(X, B, X, beta=a)
        if tall:
            X = X.transpose(-2, -1)
        return X.reshape(G.shape)

    import torch

    zeropower_via_newtonschulz5._edgeyolo_cpu_fp32 = True
    muon.zeropower_via_newtonschulz5 = zeropower_via_newtonschulz5


def _patch_amp_check() -> None:
    """Keep the float16 AMP check from downloading yolo26n.pt.

    The library compares FP32 and AMP detections of a downloaded yolo26n.pt before float16 training. When
    that file is not already in its weights folder, edgeyolo keeps only the check's offline part: the
    library's pattern of GPUs known to break float16 AMP. bfloat16 runs skip the check in the library.
    """
    from ultralytics.engine import trainer as trainer_module
    from ultralytics.utils import LOGGER, WEIGHTS_DIR

    original = trainer_module.check_amp
    if getattr(original, "_edgeyolo_offline", False):
        return

    def check_amp(model):
        import torch

        from edgeyolo.recipe import fp16_amp_breaks

        device = next(model.parameters()).device
        if device.type != "cuda" or (WEIGHTS_DIR / "yolo26n.pt").is_file():
            return original(model)
        gpu = torch.cuda.get_device_name(device)
        if fp16_amp_breaks(gpu):
            LOGGER.warning(f"AMP: {gpu} is known to give NaN losses with float16 AMP; training in float32")
            return False
        LOGGER.info(
            f"AMP: float16 on {gpu}; output check skipped (it needs yolo26n.pt, which edgeyolo never downloads)"
        )
        return True

    check_amp._edgeyolo_offline = True
    trainer_module.check_amp = check_amp
