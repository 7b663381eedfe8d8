"""Training losses, one private module per family; public names re-exported here."""

from ._classification import MultiHeadCrossEntropy
from ._density import (
    BinColorLoss,
    GMMColorLoss,
    attention_density_loss,
    attention_weights,
    bin_log_likelihood,
    gmm_em_loss,
    gmm_log_likelihood,
    smoothed_bin_probs,
)

__all__ = ["MultiHeadCrossEntropy", "BinColorLoss", "GMMColorLoss", "attention_density_loss",
           "attention_weights", "bin_log_likelihood", "gmm_em_loss", "gmm_log_likelihood",
           "smoothed_bin_probs"]

from ._reconstruction import (  # noqa: E402
    GLOBAL_MSSSIM_WEIGHTS,
    LOCAL_MSSSIM_WEIGHTS,
    IGDLoss,
    acai_autoencoder_penalty,
    acai_critic_loss,
    acai_interpolate,
    deep_svdd_center,
    deep_svdd_loss,
    deep_svdd_radius,
    descriptor_loss,
    descriptor_score,
    gaussian_svdd_estep,
    gaussian_svdd_loss,
    gaussian_window,
    glocal_reconstruction_loss,
    glocal_reconstruction_map,
    igd_score,
    ms_ssim,
    ms_ssim_map,
    msssim_scales,
    msssim_weights,
)

__all__ += ["GLOBAL_MSSSIM_WEIGHTS", "LOCAL_MSSSIM_WEIGHTS", "IGDLoss", "acai_autoencoder_penalty",
            "acai_critic_loss", "acai_interpolate", "deep_svdd_center", "deep_svdd_loss",
            "deep_svdd_radius", "descriptor_loss", "descriptor_score", "gaussian_svdd_estep",
            "gaussian_svdd_loss", "gaussian_window", "glocal_reconstruction_loss",
            "glocal_reconstruction_map", "igd_score", "ms_ssim", "ms_ssim_map",
            "msssim_scales", "msssim_weights"]
from ._contrastive import (  # noqa: E402
    ContrastedMemoryLoss,
    DoubleHingeLoss,
    contrasted_memory_loss,
    double_hinge,
    memory_mix,
    nt_xent,
    variance_loss,
)

__all__ += ["ContrastedMemoryLoss", "DoubleHingeLoss", "contrasted_memory_loss", "double_hinge",
            "memory_mix", "nt_xent", "variance_loss"]
