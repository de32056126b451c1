"""Shared pieces of the baseline / data tests: a small GT folder and a very small model config."""

from facebench.io.shards import GTWriter
from tests.gt_factory import TEMPLATE_INFO, make_sequence

# A model small enough for a unit test (about 60k parameters).
SMALL = dict(dim=32, depth=4, heads=2, out_layers=(0, 1, 2, 3), head_features=8, pos_grid=4, image_size=32,
             prior=False)


def make_gt(path, T=6, H=24, W=32, participants=("101",), template="facebench-head"):
    """A GT folder with two clips per participant (random maps, said to be in ``template``'s
    canonical space so prior models accept it); returns the path."""
    writer = GTWriter(path, template={**TEMPLATE_INFO, "name": template}, dataset="unit", config={"test": 1})
    for i, pid in enumerate(participants):
        seq = make_sequence(participant=pid, T=T, H=H, W=W, seed=i)
        writer.commit(writer.write_sequence(seq, i))
    return path
