"""The models a server holds: one Stylizer per available model and the style bank, loaded in
the background at startup so that /healthz answers at once and /readyz says when they are in."""
import logging
import threading
import time

from stylize.errors import StylizeError
from stylize.models.bank import DEFAULT_BANK, load_bank
from stylize.models.registry import MODELS
from stylize.pipelines.stylizer import Stylizer

log = logging.getLogger("stylize.api")


class LoadedModels:
    def __init__(self, settings):
        self.settings = settings
        self.stylizers, self.bank, self.error = {}, None, None
        self.load_seconds = {}

    @property
    def ready(self):
        return bool(self.stylizers)

    def load(self):
        """Every model of the table whose weights are set or shipped (the required ones always),
        then the bank, checked against each model's decoder."""
        s = self.settings
        try:
            stylizers = {}
            for spec in MODELS.values():
                weights = getattr(s, spec.weights_option)
                if weights is None and not spec.required and not spec.default_weights.exists():
                    continue
                start = time.perf_counter()
                stylizers[spec.name] = Stylizer.from_files(spec.name, weights, s.vgg if spec.vgg_encoder else None,
                                                           s.device, s.precision)
                self.load_seconds[spec.name] = time.perf_counter() - start
            bank_path = s.bank or (DEFAULT_BANK if DEFAULT_BANK.exists() else None)
            self.bank = load_bank(bank_path) if bank_path else None
            for stylizer in stylizers.values() if self.bank else ():  # every model reads bank styles
                self.bank.check_fits(stylizer.engine.model.decoder)
            self.stylizers = stylizers
            device = next(iter(stylizers.values())).engine.device
            log.info("models ready on %s: %s; style bank: %s", device, ", ".join(stylizers), bank_path)
        except StylizeError as e:
            self.error = str(e)
            log.error("model failed to load: %s", e)

    def load_in_background(self):
        threading.Thread(target=self.load, name="model-loader", daemon=True).start()

    def get(self, name):
        """The Stylizer of a model named in a checked request (check_inputs knows the names)."""
        if name not in self.stylizers:
            raise StylizeError(f"model {name!r} is not available on this server")
        return self.stylizers[name]
