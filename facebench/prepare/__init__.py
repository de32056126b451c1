"""``facebench prepare``: from a multi-view capture to ground-truth shards (SPEC §2-§4).

Modules: :mod:`.pointcloud` (fuse and clean depth), :mod:`.rigid` (landmark-free
coarse alignment), :mod:`.fit` (template fitting in torch), :mod:`.config`
(pipeline configuration and its hash), :mod:`.pipeline` (per-sequence work, shards,
scale-out), :mod:`.registered` and :mod:`.register_fit` (GT from registered meshes).
The public entry points are imported lazily so that importing the package stays cheap.
"""

__all__ = ["prepare_nersemble", "prepare_registered", "prepare_synth_benchmark"]


def __getattr__(name):
    if name == "prepare_nersemble":
        from facebench.prepare.pipeline import prepare_nersemble

        return prepare_nersemble
    if name == "prepare_registered":
        from facebench.prepare.registered import prepare_registered

        return prepare_registered
    if name == "prepare_synth_benchmark":
        from facebench.prepare.synth_benchmark import prepare_synth_benchmark

        return prepare_synth_benchmark
    raise AttributeError(name)
