"""rdpflex-refine passes rdpflex's conformance suite, and its trainer learns."""

import torch

from rdpflex.testing import DecoderConformance


class TestRefine(DecoderConformance):
    decoder_name = "refine"
    options = {"strength": 0.5, "unsharp": 0.3}
    invalid_options = [{"strength": 3}, {"unsharp": -1}]

    def make_decoder(self, codec):
        from rdpflex_refine.decoder import RefineDecoder, Refiner

        torch.manual_seed(0)
        refiner = Refiner(hidden=8, layers=1)
        torch.nn.init.normal_(refiner.net[-1].weight, std=0.01)  # not the zero init: decoding must differ from mse
        return RefineDecoder(refiner).eval()
