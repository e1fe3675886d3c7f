"""The command line's argument machinery: the parser class, value types, and options built from
a config dataclass or the server's settings (each default read from where it is defined)."""
import argparse
import dataclasses
from typing import Literal, get_args, get_origin


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error:` line and exit status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def add_config_arguments(parser, config, help, required=(), choices=None):
    """One --option per field of the `config` dataclass, its default read from the dataclass
    (each default lives in one place); `help` maps field names to help texts."""
    choices = choices or {}
    for field in dataclasses.fields(config):
        if field.name not in help:
            continue
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        if default is dataclasses.MISSING:
            default = None if field.default_factory is dataclasses.MISSING else field.default_factory()
        kinds = {"int": non_negative_int, "float": non_negative_float, "bool": None}  # all counts, rates and weights
        kind = kinds.get(getattr(field.type, "__name__", field.type))
        if kind is None and field.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=help[field.name])
            continue
        text = help[field.name] + (f" (default {default})" if default not in (None, "") else "")
        parser.add_argument(flag, type=kind or str, default=default, required=field.name in required,
                            choices=choices.get(field.name), help=text)


def add_settings_arguments(parser, settings):
    """One --option per field of the pydantic `settings`, its help the field's description and its
    default the field's (left unset here, so that STYLIZE_* variables apply); pydantic checks
    the values."""
    for name, field in settings.model_fields.items():
        kind = field.annotation
        choices = get_args(kind) if get_origin(kind) is Literal else None
        default = f" (default {field.default})" if field.default is not None else ""
        parser.add_argument("--" + name.replace("_", "-"), type=kind if kind in (int, float) else str,
                            choices=choices, help=field.description + default)
