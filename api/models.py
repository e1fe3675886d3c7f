"""The models a server holds: one Stylizer per available model and the style bank, loaded in
the background at startup so that /healthz answers at once and /readyz says when they are in."""
import logging
import threading
import time

from stylize.bank import DEFAULT_BANK, load_bank
from stylize.errors import StylizeError
from stylize.pipeline import Stylizer
from stylize.weights import DEFAULT_FAST

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
        s = self.settings
        try:
            start = time.perf_counter()
            quality = Stylizer.from_files("quality", s.decoder, s.vgg, s.device, s.precision)
            self.load_seconds["quality"] = time.perf_counter() - start
            fast_path = s.fast_model or (DEFAULT_FAST if DEFAULT_FAST.exists() else None)
            start = time.perf_counter()
            fast = Stylizer.from_files("fast", fast_path, None, s.device, s.precision) if fast_path else None
            if fast is not None:
                self.load_seconds["fast"] = time.perf_counter() - start
            bank_path = s.bank or (DEFAULT_BANK if DEFAULT_BANK.exists() else None)
            self.bank = load_bank(bank_path, quality.engine.decoder) if bank_path else None
            self.stylizers = {name: st for name, st in (("quality", quality), ("fast", fast)) if st is not None}
            log.info("models ready on %s: %s; style bank: %s", quality.engine.device, ", ".join(self.stylizers), bank_path)
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
