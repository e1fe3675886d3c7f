"""What each `stylize` subcommand does with its parsed arguments."""
import shlex
import sys
from pathlib import Path

from tqdm import tqdm

from stylize.errors import StylizeError
from stylize.media.images import list_images
from stylize.models.bank import load_bank
from stylize.models.registry import model_spec
from stylize.pipelines.executor import probe_video, run_plan, run_video
from stylize.pipelines.jobs import plan_jobs
from stylize.pipelines.request import (
    DatasetRequest,
    StyleRequest,
    VideoRequest,
    check_dataset_inputs,
    check_inputs,
    check_video_inputs,
)
from stylize.pipelines.stylizer import Stylizer


def _image_files(path, what):
    path = Path(path)
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise StylizeError(f"no images found in {what} folder {path}")
        return files
    if not path.exists():
        raise StylizeError(f"{what} not found: {path}")
    return [path]


def _style_files(spec):
    parts = spec.split(",") if "," in spec else [spec]
    return [f for part in parts if part for f in _image_files(part, "style image")]


def _style_request(args, contents, **options):
    """The style options shared by `transfer` and `video` as a StyleRequest (not yet checked)."""
    bank_style = args.style if args.bank else None
    return StyleRequest(contents=tuple(contents), styles=() if bank_style else tuple(_style_files(args.style)),
                        style_name=bank_style, style_weights=args.style_weights, alpha=args.alpha,
                        style_size=args.style_size, model=args.model, **options)


def transfer_request(args):
    """The command line as one checked StyleRequest (files listed, every rule checked)."""
    return check_inputs(_style_request(
        args, _image_files(args.content, "content image"), masks=tuple(args.mask) if args.mask else None,
        preserve_color=args.preserve_color, content_size=args.content_size, crop=args.crop,
        max_pixels=args.max_pixels))


def _load(args):
    stylizer = Stylizer.from_files(args.model, args.weights, args.vgg, args.device, args.precision)
    return stylizer, load_bank(args.bank, stylizer.engine.model.decoder) if args.bank else None


def transfer(args):
    request = transfer_request(args)
    plan = plan_jobs(request, args.output, args.ext)
    stylizer, bank = _load(args)
    batch_size = args.batch_size or model_spec(args.model).batch_size(stylizer.engine.device)
    single = len(plan.jobs) == 1
    with tqdm(total=len(plan.jobs), desc="stylize", unit="image", disable=single, file=sys.stderr) as bar:
        run_plan(stylizer, request, plan, batch_size, bank, progress=bar.update)
    print(plan.jobs[0].output if single else f"wrote {len(plan.jobs)} images to {plan.output}")


def video(args):
    from stylize.media.video import frames_between  # PyAV loads only for videos

    request = check_video_inputs(VideoRequest(
        _style_request(args, [args.input]), args.output, args.start, args.duration, args.size, args.temporal))
    info = probe_video(request)
    stylizer, bank = _load(args)
    batch_size = args.batch_size or model_spec(args.model).batch_size(stylizer.engine.device, frames=True)
    with tqdm(total=frames_between(info, request.start, request.duration), desc="video", unit="frame",
              file=sys.stderr) as bar:
        written, (width, height) = run_video(stylizer, request, info, bank, batch_size, progress=bar.update)
        rate = bar.format_dict["n"] / max(bar.format_dict["elapsed"], 1e-9)
    print(f"{request.output}: {written} frames at {width}x{height}, {rate:.1f} frames/s")


def dataset(args):
    from stylize.dataset.pipeline import stylize_dataset

    request = check_dataset_inputs(DatasetRequest(
        args.source, args.styles, args.output, per_image=args.per_image, alpha=args.alpha,
        alpha_range=args.alpha_range, seed=args.seed, size=args.size, crop=args.crop, style_size=args.style_size,
        ext=args.ext, model=args.model, shard=args.shard))
    summary = stylize_dataset(request, args.weights, args.vgg, args.device, args.precision, args.batch_size or None,
                              args.workers)
    if summary is not None:  # rank 0 reports for all
        print(f"{request.output}: {summary}")


def _train(args, config_class, trainer_class):
    """Build `config_class` from the parsed options (its fields) and run the trainer with it."""
    fields = {k: v for k, v in vars(args).items() if k in config_class.__dataclass_fields__}
    trainer_class(config_class(**fields), command=shlex.join(["stylize", *sys.argv[1:]])).run()


def train(args):
    from stylize.training.config import TrainConfig
    from stylize.training.decoder import DecoderTrainer  # training code stays out of inference

    _train(args, TrainConfig, DecoderTrainer)


def train_bank(args):
    from stylize.training.bank import BankTrainer
    from stylize.training.config import BankTrainConfig

    _train(args, BankTrainConfig, BankTrainer)


def train_fast(args):
    from stylize.training.config import FastTrainConfig
    from stylize.training.fast import FastTrainer

    _train(args, FastTrainConfig, FastTrainer)


def export(args):
    from stylize.training.export import export_checkpoint

    spec, meta = export_checkpoint(args.checkpoint, args.output, half=args.half)
    print(f"wrote {args.output} ({spec.name} model, {meta['iterations']} iterations, weights: {meta['weights']})")


def export_onnx(args):
    from stylize.export.onnx import export_onnx as export

    info = export(model_spec(args.model).model(args.weights), args.out_dir, args.opset)
    print(f"wrote {args.out_dir}/style_encoder.onnx and stylizer.onnx ({args.model} model, "
          f"style_stats of {info['style_stats_size']} numbers, opset {args.opset})")


def export_web(args):
    from stylize.export.web import export_web as export
    from stylize.pipelines.engine import Engine

    info = export(Engine.load("fast", args.weights, device="cpu", precision="fp32"), args.out_dir)
    print(f"wrote {args.out_dir}/index.html and the site beside it ({info['site_bytes'] / 1e6:.1f} MB, fast model, "
          f"weights in int8): serve the folder from any static host, e.g. python -m http.server -d {args.out_dir}")


def serve(args):
    from stylize.api.main import serve as serve_api
    from stylize.api.settings import Settings, load_settings

    settings = load_settings(**{name: getattr(args, name) for name in Settings.model_fields if hasattr(args, name)})
    serve_api(settings, args.host, args.port)
