"""pimsim: a processing-in-memory simulator for LLM workloads, with GPU/CPU baselines.

Data flows one way (see DESIGN in the README): hardware -> model graph -> workload phases -> mapper ->
engine -> Result. Each stage is one sub-package.
"""

__version__ = "0.1.0"


def simulate(*args, **kwargs):
    """`pimsim.engine.simulate`: a workload on a PIM system -> `Result` (see its docstring)."""
    from pimsim.engine.system import simulate as _simulate

    return _simulate(*args, **kwargs)
