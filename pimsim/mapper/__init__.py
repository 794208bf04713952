"""Mapper box: mapping schemes (`mappings/*.yaml`) and the mapper that turns model ops into PIM
programs, ASIC work and link transfers (it never times anything)."""

from pimsim.mapper.mapper import MappedOp, Mapper, TokenStep
from pimsim.mapper.programs import GemvShape, Program, gemv_program
from pimsim.mapper.schema import Mapping, load_mapping, mapping_names

__all__ = ["GemvShape", "MappedOp", "Mapper", "Mapping", "Program", "TokenStep", "gemv_program",
           "load_mapping", "mapping_names"]
