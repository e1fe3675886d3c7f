"""What each `stylize` subcommand does with its parsed arguments."""
import re
import shlex
import sys
from pathlib import Path

from tqdm import tqdm

from stylize.bank import load_bank
from stylize.errors import StylizeError
from stylize.images import SAVE_FORMATS, list_images, open_image, save_image
from stylize.transfer import Stylizer, check_alpha, normalise_weights


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
    if "," in spec:
        return [f for part in spec.split(",") if part for f in _image_files(part, "style image")]
    return _image_files(spec, "style image")


def _output_path(output, content, style_name, ext, single):
    """Where one result goes: --output itself for a single result named like an image."""
    if single and output is not None and output.suffix.lower().lstrip(".") in SAVE_FORMATS:
        return output
    folder = output or Path("output")
    if folder.suffix.lower().lstrip(".") in SAVE_FORMATS:
        raise StylizeError(f"--output {folder} is a file name, but this run makes several images; give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StylizeError(f"cannot create output folder {folder}: {e.strerror or e}") from None
    return folder / f"{content.stem}_stylized_{style_name}.{ext}"


def _batches(jobs, size):
    """Runs of at most `size` consecutive jobs that share their styles and can be batched
    (no masks, no colour preservation: those depend on each content image)."""
    run = []
    for job in jobs:
        batchable = not job[3].get("masks") and not job[3].get("preserve_color")
        if run and (not batchable or len(run) == size or job[2] is not run[0][2]):
            yield run
            run = []
        run.append(job)
        if not batchable:
            yield run
            run = []
    if run:
        yield run


def _write_results(stylizer, jobs, args):
    """jobs: (content path, style name, styles for Stylizer.transfer, extra transfer options)."""
    single = len(jobs) == 1
    batch_size = args.batch_size or (8 if stylizer.device.type == "cuda" else 1)
    options = dict(content_size=args.content_size, crop=args.crop, alpha=args.alpha)
    bar = tqdm(total=len(jobs), desc="stylize", unit="image", disable=single, file=sys.stderr)
    for run in _batches(jobs, batch_size):
        targets = [_output_path(args.output, content_path, style_name, args.ext, single)
                   for content_path, style_name, _, _ in run]
        contents = [open_image(content_path) for content_path, *_ in run]
        styles, extra = run[0][2], run[0][3]
        if len(run) == 1:
            results = [stylizer.transfer(contents[0], styles, style_size=args.style_size, **options, **extra)]
        else:
            results = stylizer.transfer_batch(contents, styles, weights=extra.get("weights"), **options)
        for result, target in zip(results, targets):
            save_image(result, target)
            if single:
                print(target)
        bar.update(len(run))
    bar.close()
    if not single:
        print(f"wrote {len(jobs)} images to {args.output or Path('output')}")


def _bank_jobs(args, contents):
    for option, given in (("--mask", args.mask), ("--style-weights", args.style_weights),
                          ("--preserve-color", args.preserve_color)):
        if given:
            raise StylizeError(f"{option} needs style images; with --bank, blend styles as --style NAME:W,NAME:W")
    stylizer = Stylizer.from_files(args.decoder, args.vgg, args.device, args.precision)
    bank = load_bank(args.bank, stylizer.decoder)
    style = bank.style_stats(bank.weights(args.style))
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", args.style.replace(",", "+").replace(":", "-"))
    styles = [style]
    return stylizer, [(c, name, styles, {}) for c in contents]


def _image_jobs(args, contents):
    style_paths = _style_files(args.style)
    combine = args.style_weights is not None or args.mask is not None
    if combine:
        normalise_weights(args.style_weights, len(style_paths))  # fail on a bad count before any work
        if args.mask is not None and len(args.mask) != len(style_paths):
            raise StylizeError(f"got {len(args.mask)} masks for {len(style_paths)} style images; give one mask per style")
        if args.mask is not None and args.style_weights is not None:
            raise StylizeError("use either --mask or --style-weights, not both")
    masks = [open_image(m).convert("L") for m in args.mask] if args.mask else None
    styles = [open_image(p) for p in style_paths]
    stylizer = Stylizer.from_files(args.decoder, args.vgg, args.device, args.precision)
    # Style statistics once per style, not once per content image (unless colours must follow the content).
    if not args.preserve_color:
        styles = [stylizer.prepare_style(s, args.style_size, args.crop) for s in styles]
    extra = dict(preserve_color=args.preserve_color, weights=args.style_weights, masks=masks)
    if combine:
        return stylizer, [(c, "+".join(p.stem for p in style_paths), styles, extra) for c in contents]
    # Style by style, so that consecutive jobs share a style and can go through in batches.
    return stylizer, [(c, p.stem, one_style, extra) for p, one_style in zip(style_paths, ([s] for s in styles))
                      for c in contents]


def transfer(args):
    check_alpha(args.alpha)
    contents = _image_files(args.content, "content image")
    stylizer, jobs = _bank_jobs(args, contents) if args.bank else _image_jobs(args, contents)
    _write_results(stylizer, jobs, args)


def train(args):
    from stylize.train import TrainConfig, train as run_training  # training code stays out of inference

    fields = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    run_training(TrainConfig(**fields), command=shlex.join(["stylize", *sys.argv[1:]]))


def train_bank(args):
    from stylize.train_bank import BankTrainConfig, train_bank as run_bank_training

    fields = {k: v for k, v in vars(args).items() if k in BankTrainConfig.__dataclass_fields__}
    run_bank_training(BankTrainConfig(**fields), command=shlex.join(["stylize", *sys.argv[1:]]))


def export(args):
    from stylize.train import export as export_checkpoint

    meta = export_checkpoint(args.checkpoint, args.output, half=args.half)
    print(f"wrote {args.output} ({meta['iterations']} iterations, architecture {meta['config']['architecture']})")


def serve(args):
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    names = ("decoder", "bank", "vgg", "device", "precision", "max_upload_mb", "max_side", "max_styles", "max_concurrency", "max_queue")
    settings = Settings.from_env(**{name: getattr(args, name) for name in names})
    uvicorn.run(create_app(settings), host=args.host, port=args.port, access_log=False, log_config=None)
