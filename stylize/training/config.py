"""Every training default, in one place: the config dataclasses of the three trainers.

Kept apart from the training code so that the command line can read the defaults (and build
its options from them) without importing torch.distributed and the training loops.
"""
from dataclasses import dataclass, field

STYLE_TARGETS = ("style", "teacher")  # train-fast's style loss: the style crop's statistics, or the teacher output's


@dataclass
class TrainConfig:
    content_dir: str
    style_dir: str
    out: str = "runs/adain"
    iters: int = 160_000
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 5e-5
    warmup: int = 0  # steps of linear learning-rate ramp at the start of a run (a warm start has no Adam moments)
    ema_decay: float = 0.995  # exported weights: this moving average (~200 steps, see averaging.py); 0: none
    content_weight: float = 1.0
    style_weight: float = 10.0
    gram_weight: float = 0.0  # Gram-matrix style loss beside the mean/std one (losses.gram_loss); 0: off
    identity_pixel_weight: float = 0.0  # L1 of a photo's (and a painting's) own taps decoded, against the image
    identity_feature_weight: float = 0.0  # MSE of the same at relu1_1..relu4_1
    image_size: int = 512
    crop_size: int = 256
    source_cap: float = 0.0  # a source (name prefix or subfolder) counts as at most this share of its folder; 0: off
    workers: int = 2
    amp: bool = False
    save_every: int = 1000
    time_limit: float = 0.0  # seconds of wall clock for this run, then a checkpoint and a clean stop; 0: none
    sample_every: int = 500
    resume: str | None = None
    init: str | None = None
    architecture: str | None = None  # None: "plain", or the --init file's
    style_layer: str | None = None  # what the decoder is fed: None: "adain", or the --init file's
    seed: int = 0
    device: str = "auto"
    vgg: str | None = None
    threads: int = 0


@dataclass
class BankTrainConfig:
    styles: list = field(default_factory=list)  # style image files and/or folders
    content_dir: str = ""
    out: str = "bank.safetensors"
    iters: int = 500
    batch_size: int = 4
    lr: float = 5e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    image_size: int = 512
    crop_size: int = 256
    style_size: int = 512
    base: str | None = None
    decoder: str | None = None
    finetune_decoder: bool = False
    eval_content_dir: str | None = None
    eval_images: int = 8
    save_every: int = 100
    time_limit: float = 0.0  # seconds of wall clock for this run, then a checkpoint; 0: none
    resume: str | None = None
    seed: int = 0
    workers: int = 2
    threads: int = 0
    device: str = "auto"


@dataclass
class FastTrainConfig:
    content_dir: str = ""
    style_dir: str = ""
    out: str = "runs/fast"
    encoder_iters: int = 1000  # phase 1 (distilling the slim encoder) ends here
    iters: int = 20_000  # phase 2 (head and decoder) runs up to here
    batch_size: int = 8
    distil_lr: float = 1e-3  # phase 1
    lr: float = 1e-4  # phase 2: the decoder (and the slim encoder with finetune_encoder)
    head_lr: float = 1e-5  # phase 2: the head's tap targets (Adam moves all ~900,000 weights ~lr a step)
    modulation_lr: float = 1e-5  # phase 2: the head's modulation of the decoder's convolutions
    lr_decay: float = 5e-5
    teacher: str | None = None  # the quality decoder whose paintings the pool holds (None: the shipped one)
    pool_size: int = 2048  # (content crop, style crop) pairs painted by the teacher, once
    pixel_weight: float = 1.0  # L1 to the teacher's output
    feature_weight: float = 1.0  # MSE to the teacher's output at VGG-19's relu1_1 and relu2_1
    adain_weight: float = 0.0  # the AdaIN paper's losses in VGG-19 (content + style_weight * style); 0: skipped
    style_weight: float = 25.0
    style_target: str = "style"  # the AdaIN style loss's statistics: the style crop's, or the teacher output's
    identity_pixel_weight: float = 0.0  # L1 of photos at strength 0 and paintings by themselves, against the image
    identity_feature_weight: float = 0.0  # MSE of the same at relu1_1 and relu2_1
    image_size: int = 256
    crop_size: int = 128
    finetune_encoder: bool = False  # phase 2 also trains the slim encoder
    amp: bool = False  # phase 2 in mixed precision (stylize/training/precision.py)
    init: str | None = None  # warm start from a fast model file (this design's, or a first-design slim network)
    decoder_convs: str = ""  # with init: its decoder's convolutions moved to this layout, "2,2,5,1" (relayout.py)
    ema_decay: float = 0.99  # exported weights: this moving average over phase 2 (0: the last step's)
    workers: int = 1
    threads: int = 0
    save_every: int = 250
    time_limit: float = 0.0  # seconds of wall clock for this run (the teacher pool included), then a checkpoint
    resume: str | None = None
    seed: int = 0
    device: str = "auto"
